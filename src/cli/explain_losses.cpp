// ksight explain losses: the running daemon's loss ledger as a table, read
// from its /metrics (ksight_ledger_records_total, ksight_sink_records_total,
// ksight_completeness_ratio, ksight_sampling_ratio). For each probe, every
// hop a record can be lost at, and the identity that ties them:
//   generated = delivered + sampled_out + shed + rate_limited + ring_full
//               + queue_full + malformed + (the sink's) dropped + failed
//               + pending + in flight
// where pending is what the sink holds (ksight_sink_pending_records) and
// "in flight" what the counters do not place yet (records in the ring or the
// queue, or counted between two reads): 0 once the node is quiet.
#include <curl/curl.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"
#include "config/config.h"

namespace ksight::cli {

namespace {

using json = nlohmann::json;

size_t append_body(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (s->size() > (64u << 20)) return 0;  // not a ksight exposition: stop
  s->append(data, size * n);
  return size * n;
}

std::expected<std::string, std::string> fetch(const std::string& url) {
  CURL* curl = curl_easy_init();
  if (!curl) return std::unexpected(std::string("curl_easy_init failed"));
  std::string body;
  char err[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10'000L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) return std::unexpected(std::string(err[0] ? err : curl_easy_strerror(rc)));
  if (status != 200) return std::unexpected("HTTP status " + std::to_string(status));
  return body;
}

// One sample line of the text format: name{k="v",...} value. Label values
// of these families are probe, hop and sink names: no escapes to undo.
bool parse_sample(const std::string& line, std::string& name,
                  std::map<std::string, std::string>& labels, double& value) {
  labels.clear();
  size_t brace = line.find('{'), space;
  if (brace != std::string::npos) {
    name = line.substr(0, brace);
    size_t end = line.find('}', brace);
    if (end == std::string::npos) return false;
    std::string body = line.substr(brace + 1, end - brace - 1);
    size_t pos = 0;
    while (pos < body.size()) {
      size_t eq = body.find("=\"", pos);
      if (eq == std::string::npos) return false;
      size_t close = body.find('"', eq + 2);
      if (close == std::string::npos) return false;
      labels[body.substr(pos, eq - pos)] = body.substr(eq + 2, close - eq - 2);
      pos = close + 1;
      if (pos < body.size() && body[pos] == ',') ++pos;
    }
    space = end + 1;
  } else {
    space = line.find(' ');
    if (space == std::string::npos) return false;
    name = line.substr(0, space);
  }
  try {
    value = std::stod(line.substr(space));
  } catch (...) {
    return false;
  }
  return true;
}

constexpr const char* kHops[] = {"generated",    "sampled_out", "shed",
                                 "rate_limited", "ring_full",   "received",
                                 "queue_full",   "malformed",   "decoded"};

void print_text(const json& doc) {
  std::printf("loss ledger of %s\n\n", doc["url"].get<std::string>().c_str());
  std::printf("%-10s %12s %12s %10s %12s %10s %12s %10s %10s %12s %8s\n", "PROBE", "GENERATED",
              "SAMPLED_OUT", "SHED", "RATE_LIMITED", "RING_FULL", "RECEIVED", "QUEUE_FULL",
              "MALFORMED", "DECODED", "SAMPLING");
  for (const auto& p : doc["probes"]) {
    const auto& h = p["hops"];
    std::printf("%-10s", p["probe"].get<std::string>().c_str());
    const int widths[] = {12, 12, 10, 12, 10, 12, 10, 10, 12};
    for (size_t i = 0; i < std::size(kHops); ++i)
      std::printf(" %*.0f", widths[i], h.value(kHops[i], 0.0));
    std::printf(" %8.4g\n", p.value("sampling_ratio", 1.0));
  }
  std::printf("\n%-10s %-12s %12s %10s %10s %10s %10s %14s\n", "PROBE", "SINK", "DELIVERED",
              "DROPPED", "FAILED", "PENDING", "IN_FLIGHT", "COMPLETENESS");
  for (const auto& p : doc["probes"]) {
    for (const auto& s : p["sinks"]) {
      std::printf("%-10s %-12s %12.0f %10.0f %10.0f %10.0f %10.0f %14.4f\n",
                  p["probe"].get<std::string>().c_str(), s["sink"].get<std::string>().c_str(),
                  s["delivered"].get<double>(), s["dropped"].get<double>(),
                  s["failed"].get<double>(), s["pending"].get<double>(),
                  s["in_flight"].get<double>(), s["completeness"].get<double>());
    }
  }
  std::printf(
      "\ngenerated = delivered + sampled_out + shed + rate_limited + ring_full + queue_full\n"
      "            + malformed + dropped + failed + pending + in_flight, per sink. pending:\n"
      "            held by the sink (a batch, an OTLP document queued or retried); in flight:\n"
      "            between the counters' reads (the ring, the queue), 0 when quiet.\n"
      "completeness: delivered / generated over the last 5 minutes (sampling included:\n"
      "            each kept event carries sample_period, the events it stands for).\n");
}

}  // namespace

int run_explain_losses(const ExplainFlags& flags) {
  if (flags.output != "text" && flags.output != "json")
    return fail(kExitUsage, "-o: expected text or json, got '" + flags.output + "'");
  std::string url = flags.url;
  if (url.empty()) {
    RunFlags rf;
    rf.config_file = flags.config_file;
    auto cfg = resolve_config(rf);
    if (!cfg) return fail(kExitUsage, cfg.error());
    const std::string& listen = cfg->listen;
    const std::string port = listen.substr(listen.rfind(':') + 1);
    url = std::string(cfg->web.tls_cert_file.empty() ? "http" : "https") + "://127.0.0.1:" + port +
          "/metrics";
  }
  auto body = fetch(url);
  if (!body)
    return fail(kExitFailure, "cannot read the daemon's metrics at " + url + ": " + body.error() +
                                  " (is `ksight run` up? --url to point elsewhere)");

  // probe -> hop -> value; probe -> sink -> outcome -> value
  std::map<std::string, std::map<std::string, double>> hops;
  std::map<std::string, std::map<std::string, std::map<std::string, double>>> sinks;
  std::map<std::string, double> sampling;
  std::map<std::pair<std::string, std::string>, double> completeness, pending;
  bool any = false;
  std::string line, name;
  std::map<std::string, std::string> labels;
  size_t pos = 0;
  while (pos < body->size()) {
    size_t nl = body->find('\n', pos);
    if (nl == std::string::npos) nl = body->size();
    line = body->substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty() || line[0] == '#') continue;
    double v = 0;
    if (!line.starts_with("ksight_") || !parse_sample(line, name, labels, v)) continue;
    if (name == "ksight_ledger_records_total") {
      hops[labels["probe"]][labels["hop"]] = v;
      any = true;
    } else if (name == "ksight_sink_records_total") {
      sinks[labels["probe"]][labels["sink"]][labels["outcome"]] = v;
    } else if (name == "ksight_sampling_ratio") {
      sampling[labels["probe"]] = v;
    } else if (name == "ksight_sink_pending_records") {
      pending[{labels["probe"], labels["sink"]}] = v;
    } else if (name == "ksight_completeness_ratio") {
      completeness[{labels["probe"], labels["sink"]}] = v;
    }
  }
  if (!any)
    return fail(kExitFailure, url + " has no ksight_ledger_records_total: not a ksight daemon, " +
                                  "or one that runs no event probe");

  json doc{{"url", url}, {"probes", json::array()}};
  for (const auto& [probe, h] : hops) {
    auto get = [&](const char* hop) {
      auto it = h.find(hop);
      return it == h.end() ? 0.0 : it->second;
    };
    json p{{"probe", probe}, {"hops", h}, {"sinks", json::array()}};
    if (auto it = sampling.find(probe); it != sampling.end()) p["sampling_ratio"] = it->second;
    const double upstream = get("sampled_out") + get("shed") + get("rate_limited") +
                            get("ring_full") + get("queue_full") + get("malformed");
    for (const auto& [sink, o] : sinks[probe]) {
      auto val = [&](const char* k) {
        auto it = o.find(k);
        return it == o.end() ? 0.0 : it->second;
      };
      const double delivered = val("delivered"), dropped = val("dropped"), failed = val("failed");
      const double held = pending.count({probe, sink}) ? pending[{probe, sink}] : 0.0;
      p["sinks"].push_back(
          {{"sink", sink},
           {"delivered", delivered},
           {"dropped", dropped},
           {"failed", failed},
           {"pending", held},
           {"in_flight", get("generated") - delivered - dropped - failed - held - upstream},
           {"completeness",
            completeness.count({probe, sink}) ? completeness[{probe, sink}] : 1.0}});
    }
    doc["probes"].push_back(std::move(p));
  }
  if (flags.output == "json")
    std::printf("%s\n", doc.dump(2).c_str());
  else
    print_text(doc);
  return kExitOk;
}

}  // namespace ksight::cli
