#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "bpf/attach.h"
#include "config/units.h"
#include "identity/resolver.h"
#include "probes/probe.h"
#include "runtime/privileges.h"

namespace ksight::config {

namespace {

// Walks a YAML document, applying the keys it knows onto a Config. The first
// problem found ends the walk with a message naming source, key and expectation.
class Applier {
 public:
  explicit Applier(std::string_view source) : source_(source) {}

  std::expected<void, std::string> apply(const YAML::Node& root, Config& c) {
    if (!root || root.IsNull()) return {};
    if (!root.IsMap()) return fail("", "a mapping of settings at the top level");
    for (const auto& kv : root) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "listen") {
        if (!scalar(key, v, c.listen)) return error();
      } else if (key == "probes") {
        if (!string_list(key, v, c.probes)) return error();
      } else if (key == "channel") {
        if (!section(key, v, {"size", "drain_interval", "wakeup_fill", "force_perf_buffer"}))
          return error();
        if (v["size"] && !size(key + ".size", v["size"], c.channel.size_bytes)) return error();
        if (v["drain_interval"] &&
            !duration(key + ".drain_interval", v["drain_interval"], c.channel.drain_interval_ns))
          return error();
        if (v["wakeup_fill"] &&
            !number(key + ".wakeup_fill", v["wakeup_fill"], c.channel.wakeup_fill))
          return error();
        if (v["force_perf_buffer"] && !boolean(key + ".force_perf_buffer", v["force_perf_buffer"],
                                               c.channel.force_perf_buffer))
          return error();
      } else if (key == "queue") {
        if (!section(key, v, {"batches", "batch_size"})) return error();
        if (v["batches"] && !count(key + ".batches", v["batches"], c.queue.batches)) return error();
        if (v["batch_size"] && !size(key + ".batch_size", v["batch_size"], c.queue.batch_bytes))
          return error();
      } else if (key == "metrics") {
        if (!section(key, v, {"max_series_per_metric", "series_ttl"})) return error();
        if (v["max_series_per_metric"] &&
            !count(key + ".max_series_per_metric", v["max_series_per_metric"],
                   c.metrics.max_series_per_metric))
          return error();
        if (v["series_ttl"] &&
            !duration(key + ".series_ttl", v["series_ttl"], c.metrics.series_ttl_ns))
          return error();
      } else if (key == "web") {
        if (!section(key, v,
                     {"tls_cert_file", "tls_key_file", "basic_auth_users", "max_connections",
                      "max_connections_per_client", "max_request_size", "client_timeout", "threads",
                      "min_scrape_interval"}))
          return error();
        if (v["max_connections"] &&
            !count(key + ".max_connections", v["max_connections"], c.web.max_connections))
          return error();
        if (v["max_connections_per_client"] &&
            !count(key + ".max_connections_per_client", v["max_connections_per_client"],
                   c.web.max_connections_per_client))
          return error();
        if (v["max_request_size"] &&
            !size(key + ".max_request_size", v["max_request_size"], c.web.max_request_size))
          return error();
        if (v["client_timeout"] &&
            !duration(key + ".client_timeout", v["client_timeout"], c.web.client_timeout_ns))
          return error();
        if (v["threads"] && !count(key + ".threads", v["threads"], c.web.threads)) return error();
        if (v["min_scrape_interval"] &&
            !duration(key + ".min_scrape_interval", v["min_scrape_interval"],
                      c.web.min_scrape_interval_ns))
          return error();
        if (v["tls_cert_file"] &&
            !scalar(key + ".tls_cert_file", v["tls_cert_file"], c.web.tls_cert_file))
          return error();
        if (v["tls_key_file"] &&
            !scalar(key + ".tls_key_file", v["tls_key_file"], c.web.tls_key_file))
          return error();
        if (v["basic_auth_users"] &&
            !string_map(key + ".basic_auth_users", v["basic_auth_users"], c.web.basic_auth_users))
          return error();
      } else if (key == "otlp") {
        if (!section(key, v,
                     {"file", "interval", "endpoint", "headers", "gzip", "timeout", "queue_size",
                      "shutdown_timeout", "max_backoff", "histograms"}))
          return error();
        if (v["file"] && !scalar(key + ".file", v["file"], c.otlp.file)) return error();
        if (v["interval"] && !duration(key + ".interval", v["interval"], c.otlp.interval_ns))
          return error();
        if (v["endpoint"] && !scalar(key + ".endpoint", v["endpoint"], c.otlp.endpoint))
          return error();
        if (v["headers"] && !string_map(key + ".headers", v["headers"], c.otlp.headers))
          return error();
        if (v["gzip"] && !boolean(key + ".gzip", v["gzip"], c.otlp.gzip)) return error();
        if (v["timeout"] && !duration(key + ".timeout", v["timeout"], c.otlp.timeout_ns))
          return error();
        if (v["queue_size"] && !size(key + ".queue_size", v["queue_size"], c.otlp.queue_bytes))
          return error();
        if (v["max_backoff"] &&
            !duration(key + ".max_backoff", v["max_backoff"], c.otlp.max_backoff_ns))
          return error();
        if (v["shutdown_timeout"] &&
            !duration(key + ".shutdown_timeout", v["shutdown_timeout"], c.otlp.shutdown_timeout_ns))
          return error();
        if (v["histograms"] && !scalar(key + ".histograms", v["histograms"], c.otlp.histograms))
          return error();
      } else if (key == "events") {
        if (!section(key, v, {"file", "rate_limit", "rate_burst"})) return error();
        if (v["file"] && !scalar(key + ".file", v["file"], c.events.file)) return error();
        if (v["rate_limit"] && !count(key + ".rate_limit", v["rate_limit"], c.events.rate_limit))
          return error();
        if (v["rate_burst"] && !count(key + ".rate_burst", v["rate_burst"], c.events.rate_burst))
          return error();
      } else if (key == "profile") {
        if (!section(key, v, {"frequency", "pprof"})) return error();
        if (v["frequency"] && !count(key + ".frequency", v["frequency"], c.profile.frequency_hz))
          return error();
        if (v["pprof"] && !boolean(key + ".pprof", v["pprof"], c.profile.pprof)) return error();
      } else if (key == "cgroups") {
        if (!section(key, v, {"map_entries", "prune_interval"})) return error();
        if (v["map_entries"] &&
            !count(key + ".map_entries", v["map_entries"], c.cgroups.map_entries))
          return error();
        if (v["prune_interval"] &&
            !duration(key + ".prune_interval", v["prune_interval"], c.cgroups.prune_interval_ns))
          return error();
      } else if (key == "identity") {
        if (!section(key, v,
                     {"labels", "kubernetes", "kubeconfig", "node_name", "deleted_pod_ttl"}))
          return error();
        if (v["labels"] && !string_list(key + ".labels", v["labels"], c.identity.labels))
          return error();
        if (v["kubernetes"] && !scalar(key + ".kubernetes", v["kubernetes"], c.identity.kubernetes))
          return error();
        if (v["kubeconfig"] && !scalar(key + ".kubeconfig", v["kubeconfig"], c.identity.kubeconfig))
          return error();
        if (v["node_name"] && !scalar(key + ".node_name", v["node_name"], c.identity.node_name))
          return error();
        if (v["deleted_pod_ttl"] && !duration(key + ".deleted_pod_ttl", v["deleted_pod_ttl"],
                                              c.identity.deleted_pod_ttl_ns))
          return error();
      } else if (key == "privileges") {
        if (!section(key, v, {"keep_capabilities", "user"})) return error();
        if (auto k = v["keep_capabilities"]) {
          // A list, or one word (auto, all, none, CAP_BPF).
          if (k.IsScalar()) {
            c.privileges.keep_capabilities = {k.as<std::string>()};
          } else if (!string_list(key + ".keep_capabilities", k, c.privileges.keep_capabilities)) {
            return error();
          }
        }
        if (v["user"] && !scalar(key + ".user", v["user"], c.privileges.user)) return error();
      } else if (key == "sampling") {
        if (!sampling(key, v, c.sampling)) return error();
      } else if (key == "budget") {
        if (!budget(key, v, c.budget)) return error();
      } else if (key == "bpf_stats") {
        if (!boolean(key, v, c.bpf_stats)) return error();
      } else if (key == "disable_features") {
        if (!string_list(key, v, c.disable_features)) return error();
      } else if (key == "log_level") {
        if (!scalar(key, v, c.log_level)) return error();
      } else {
        return fail(key,
                    "a known key (listen, probes, channel, queue, metrics, web, otlp, events, "
                    "profile, cgroups, identity, privileges, sampling, budget, bpf_stats, "
                    "disable_features, log_level)",
                    "unknown key");
      }
    }
    return {};
  }

 private:
  std::expected<void, std::string> error() const { return std::unexpected(message_); }
  std::expected<void, std::string> fail(const std::string& key, const std::string& expected,
                                        const std::string& what = "") {
    set(key, expected, what);
    return error();
  }
  bool set(const std::string& key, const std::string& expected, const std::string& what = "") {
    message_ = std::string(source_) + ": ";
    if (!key.empty()) message_ += "key '" + key + "': ";
    message_ += (what.empty() ? "" : what + ", ") + "expected " + expected;
    return false;
  }
  bool section(const std::string& key, const YAML::Node& v, std::set<std::string> known) {
    if (!v.IsMap()) return set(key, "a mapping");
    for (const auto& kv : v) {
      auto k = kv.first.as<std::string>();
      if (!known.count(k)) {
        std::string list;
        for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
        return set(key + "." + k, "one of " + list, "unknown key");
      }
    }
    return true;
  }
  bool scalar(const std::string& key, const YAML::Node& v, std::string& out) {
    if (!v.IsScalar()) return set(key, "a string");
    out = v.as<std::string>();
    return true;
  }
  bool string_list(const std::string& key, const YAML::Node& v, std::vector<std::string>& out) {
    if (!v.IsSequence()) return set(key, "a list of names, e.g. [exec, exit]");
    out.clear();
    for (const auto& item : v) {
      if (!item.IsScalar()) return set(key, "a list of names");
      out.push_back(item.as<std::string>());
    }
    return true;
  }
  bool string_map(const std::string& key, const YAML::Node& v,
                  std::map<std::string, std::string>& out) {
    if (!v.IsMap()) return set(key, "a mapping of names to strings");
    out.clear();
    for (const auto& kv : v) {
      if (!kv.second.IsScalar()) return set(key + "." + kv.first.as<std::string>(), "a string");
      out[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
    return true;
  }
  bool boolean(const std::string& key, const YAML::Node& v, bool& out) {
    if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out)) return set(key, "true or false");
    return true;
  }
  bool number(const std::string& key, const YAML::Node& v, double& out) {
    if (!v.IsScalar() || !YAML::convert<double>::decode(v, out)) return set(key, "a number");
    return true;
  }
  bool count(const std::string& key, const YAML::Node& v, uint64_t& out) {
    if (!v.IsScalar() || !YAML::convert<uint64_t>::decode(v, out))
      return set(key, "a whole number");
    return true;
  }
  bool duration(const std::string& key, const YAML::Node& v, uint64_t& out) {
    if (!v.IsScalar()) return set(key, "a duration such as 10s");
    auto d = parse_duration_ns(v.as<std::string>());
    if (!d) return set(key, "a duration such as 500ms, 10s, 5m", d.error());
    out = *d;
    return true;
  }
  bool size(const std::string& key, const YAML::Node& v, uint64_t& out) {
    if (!v.IsScalar()) return set(key, "a size such as 8MiB");
    auto s = parse_size_bytes(v.as<std::string>());
    if (!s) return set(key, "a size such as 256KiB, 8MiB", s.error());
    out = *s;
    return true;
  }

  // A share: 0.05 or "5%", within [0, 1].
  bool ratio(const std::string& key, const YAML::Node& v, double& out) {
    if (!v.IsScalar()) return set(key, "a share such as 0.05 or 5%");
    std::string text = v.as<std::string>();
    const bool percent = !text.empty() && text.back() == '%';
    if (percent) text.pop_back();
    char* end = nullptr;
    double d = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !(d >= 0)) return set(key, "a share such as 0.05 or 5%");
    if (percent) d /= 100;
    if (d > 1) return set(key, "a share between 0 and 1 (or 0% and 100%)");
    out = d;
    return true;
  }
  bool sampling(const std::string& key, const YAML::Node& v,
                std::map<std::string, Config::Sampling>& out) {
    if (!v.IsMap()) return set(key, "a mapping of probe names to sampling settings");
    out.clear();
    for (const auto& kv : v) {
      const std::string probe = kv.first.as<std::string>();
      const std::string k = key + "." + probe;
      const probes::ProbeSpec* spec = probes::find_probe(probe);
      if (!spec) return set(k, "a probe name", "unknown probe");
      if (!spec->emits_events())
        return set(k, "a probe that emits event records", "nothing to sample");
      const YAML::Node& s = kv.second;
      if (!section(k, s,
                   {"baseline", "error_boost", "error_threshold", "qps_threshold", "min", "max",
                    "keep_errors", "calm"}))
        return false;
      Config::Sampling cfg;
      if (s["baseline"] && !ratio(k + ".baseline", s["baseline"], cfg.baseline)) return false;
      if (s["error_boost"] && !ratio(k + ".error_boost", s["error_boost"], cfg.error_boost))
        return false;
      if (s["min"] && !ratio(k + ".min", s["min"], cfg.min)) return false;
      if (s["max"] && !ratio(k + ".max", s["max"], cfg.max)) return false;
      if (s["error_threshold"] &&
          !number(k + ".error_threshold", s["error_threshold"], cfg.error_threshold))
        return false;
      if (s["qps_threshold"] &&
          !number(k + ".qps_threshold", s["qps_threshold"], cfg.qps_threshold))
        return false;
      if (s["keep_errors"] && !boolean(k + ".keep_errors", s["keep_errors"], cfg.keep_errors))
        return false;
      if (s["calm"] && !duration(k + ".calm", s["calm"], cfg.calm_ns)) return false;
      // 1/65535 is the smallest keep ratio a record's u16 period can say.
      if (cfg.min < 1.0 / 65535 || cfg.min > cfg.max)
        return set(k + ".min", "a share between 1/65535 and max");
      if (cfg.baseline < cfg.min || cfg.baseline > cfg.max)
        return set(k + ".baseline", "a share between min and max");
      if (cfg.error_boost < cfg.baseline || cfg.error_boost > cfg.max)
        return set(k + ".error_boost", "a share between baseline and max");
      if (!(cfg.error_threshold > 0)) return set(k + ".error_threshold", "errors per second, > 0");
      if (!(cfg.qps_threshold >= 0)) return set(k + ".qps_threshold", "records per second, >= 0");
      out[probe] = cfg;
    }
    return true;
  }
  bool budget(const std::string& key, const YAML::Node& v, Config::Budget& out) {
    if (!section(key, v, {"bpf_cpu", "agent_cpu", "interval", "restore_after", "protect"}))
      return false;
    if (v["bpf_cpu"] && !ratio(key + ".bpf_cpu", v["bpf_cpu"], out.bpf_cpu)) return false;
    if (v["agent_cpu"] && !ratio(key + ".agent_cpu", v["agent_cpu"], out.agent_cpu)) return false;
    if (v["interval"] && !duration(key + ".interval", v["interval"], out.interval_ns)) return false;
    if (v["restore_after"] &&
        !duration(key + ".restore_after", v["restore_after"], out.restore_after_ns))
      return false;
    if (v["protect"] && !string_list(key + ".protect", v["protect"], out.protect)) return false;
    for (const auto& p : out.protect)
      if (!probes::find_probe(p))
        return set(key + ".protect", "probe names", "unknown probe '" + p + "'");
    if (out.interval_ns < 100'000'000ull || out.interval_ns > 60'000'000'000ull)
      return set(key + ".interval", "a duration between 100ms and 1m");
    return true;
  }

  std::string_view source_;
  std::string message_;
};

std::expected<YAML::Node, std::string> parse_yaml(std::string_view yaml, std::string_view source) {
  try {
    return YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return std::unexpected(std::string(source) + ": line " + std::to_string(e.mark.line + 1) +
                           ": " + e.msg);
  }
}

// An error message as one printable line: YAML errors quote the offending
// character, and keys and values come from the file, so either may hold a
// newline or another control byte (found by tests/fuzz/fuzz_config).
std::string one_line(const std::string& msg) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(msg.size());
  for (unsigned char c : msg) {
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::expected<Config, std::string> parse_config_text(std::string_view yaml,
                                                     std::string_view source);

}  // namespace

std::expected<Config, std::string> parse_config(std::string_view yaml, std::string_view source) {
  auto c = parse_config_text(yaml, source);
  if (!c) return std::unexpected(one_line(c.error()));
  return c;
}

namespace {

std::expected<Config, std::string> parse_config_text(std::string_view yaml,
                                                     std::string_view source) {
  // The embedded default, parsed once: it cannot change while we run.
  static const std::expected<Config, std::string> defaults =
      []() -> std::expected<Config, std::string> {
    Config c;
    auto def = parse_yaml(default_config_yaml(), "<default>");
    if (!def) return std::unexpected(def.error());
    if (auto r = Applier("<default>").apply(*def, c); !r) return std::unexpected(r.error());
    return c;
  }();
  if (!defaults) return std::unexpected(defaults.error());
  Config c = *defaults;
  auto doc = parse_yaml(yaml, source);
  if (!doc) return std::unexpected(doc.error());
  try {
    if (auto r = Applier(source).apply(*doc, c); !r) return std::unexpected(r.error());
  } catch (const YAML::Exception& e) {
    return std::unexpected(std::string(source) + ": " + e.msg);
  }
  if (auto note = dedupe_probes(c.probes); !note.empty())
    c.notes.push_back(std::string(source) + ": " + note);
  if (auto r = validate(c, source); !r) return std::unexpected(r.error());
  return c;
}

}  // namespace

std::string dedupe_probes(std::vector<std::string>& probes) {
  std::set<std::string> seen, repeated;
  std::vector<std::string> unique;
  for (auto& p : probes) {
    if (seen.insert(p).second)
      unique.push_back(std::move(p));
    else
      repeated.insert(p);
  }
  probes = std::move(unique);
  if (repeated.empty()) return {};
  std::string list;
  for (const auto& r : repeated) list += (list.empty() ? "" : ", ") + r;
  return "probes: " + list + " listed more than once; attaching each once";
}

std::expected<Config, std::string> load_config_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::unexpected(path + ": cannot read the config file");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_config(ss.str(), path);
}

Config default_config() {
  auto c = parse_config("", "<default>");
  return c ? *c : Config{};
}

std::expected<void, std::string> validate(const Config& c, std::string_view source) {
  auto bad = [&](const std::string& key, const std::string& msg) {
    return std::unexpected(std::string(source) + ": key '" + key + "': " + msg);
  };
  for (const auto& p : c.probes) {
    if (!probes::find_probe(p)) {
      std::string msg = "unknown probe '" + p + "'";
      auto near = probes::closest_probes(p);
      if (!near.empty()) msg += " (did you mean " + std::string(near.front()) + "?)";
      return bad("probes", msg);
    }
  }
  for (const auto& f : c.disable_features) {
    if (f != "ringbuf" && !bpf::attach_method_from_string(f))
      return bad("disable_features", "unknown feature '" + f +
                                         "' (expected tp_btf, raw_tp, tracepoint, fentry, kprobe, "
                                         "perf_event, cgroup_skb or ringbuf)");
  }
  if (c.budget.bpf_cpu > 0 && !c.bpf_stats)
    return bad("budget.bpf_cpu", "needs bpf_stats: true (it is measured from BPF run-time stats)");
  if (c.listen.rfind(':') == std::string::npos)
    return bad("listen", "expected ADDRESS:PORT, got '" + c.listen + "'");
  if (c.channel.size_bytes < 4096 || c.channel.size_bytes > (1ull << 30))
    return bad("channel.size", "must be between 4KiB and 1GiB");
  if (c.channel.drain_interval_ns < 1'000'000 || c.channel.drain_interval_ns > 1'000'000'000)
    return bad("channel.drain_interval", "must be between 1ms and 1s");
  if (c.channel.wakeup_fill <= 0 || c.channel.wakeup_fill > 1)
    return bad("channel.wakeup_fill", "must be above 0 and at most 1");
  if (c.queue.batches == 0 || c.queue.batches > 65536)
    return bad("queue.batches", "must be between 1 and 65536");
  if (c.queue.batch_bytes < 4096 || c.queue.batch_bytes > (64ull << 20))
    return bad("queue.batch_size", "must be between 4KiB and 64MiB");
  if (c.metrics.max_series_per_metric == 0)
    return bad("metrics.max_series_per_metric", "must be at least 1");
  if (c.otlp.interval_ns < 100'000'000) return bad("otlp.interval", "must be at least 100ms");
  if (c.cgroups.map_entries != 0 &&
      (c.cgroups.map_entries < 16 || c.cgroups.map_entries > (1u << 20)))
    return bad("cgroups.map_entries", "must be 0 (built-in sizes) or between 16 and 1048576");
  if (c.identity.labels.empty()) return bad("identity.labels", "must name at least one label");
  for (size_t i = 0; i < c.identity.labels.size(); ++i) {
    const auto& l = c.identity.labels[i];
    if (auto ok = identity::parse_label(l); !ok) return bad("identity.labels", ok.error());
    for (size_t j = 0; j < i; ++j) {
      if (c.identity.labels[j] == l) return bad("identity.labels", "'" + l + "' is listed twice");
    }
  }
  if (c.identity.kubernetes != "auto" && c.identity.kubernetes != "on" &&
      c.identity.kubernetes != "off")
    return bad("identity.kubernetes", "must be auto, on or off");
  if (c.cgroups.prune_interval_ns != 0 && c.cgroups.prune_interval_ns < 100'000'000)
    return bad("cgroups.prune_interval", "must be 0 (never) or at least 100ms");
  if (c.profile.frequency_hz == 0 || c.profile.frequency_hz > 10000)
    return bad("profile.frequency", "must be between 1 and 10000 (samples per second per CPU)");
  if (!c.otlp.endpoint.empty() && c.otlp.endpoint.rfind("http://", 0) != 0 &&
      c.otlp.endpoint.rfind("https://", 0) != 0)
    return bad("otlp.endpoint",
               "expected an http:// or https:// URL, got '" + c.otlp.endpoint + "'");
  if (c.otlp.timeout_ns < 1'000'000) return bad("otlp.timeout", "must be at least 1ms");
  if (c.otlp.queue_bytes < 4096) return bad("otlp.queue_size", "must be at least 4KiB");
  if (c.otlp.max_backoff_ns < 1'000'000'000) return bad("otlp.max_backoff", "must be at least 1s");
  if (c.otlp.histograms != "exponential" && c.otlp.histograms != "explicit")
    return bad("otlp.histograms",
               "expected exponential or explicit, got '" + c.otlp.histograms + "'");
  if (c.web.tls_cert_file.empty() != c.web.tls_key_file.empty())
    return bad(c.web.tls_cert_file.empty() ? "web.tls_cert_file" : "web.tls_key_file",
               "TLS needs both web.tls_cert_file and web.tls_key_file");
  if (c.web.max_connections == 0 || c.web.max_connections > 65536)
    return bad("web.max_connections", "must be between 1 and 65536");
  if (c.web.max_connections_per_client == 0 ||
      c.web.max_connections_per_client > c.web.max_connections)
    return bad("web.max_connections_per_client", "must be between 1 and web.max_connections");
  if (c.web.max_request_size < 4096 || c.web.max_request_size > (1ull << 20))
    return bad("web.max_request_size", "must be between 4KiB and 1MiB");
  if (c.web.client_timeout_ns < 1'000'000'000 || c.web.client_timeout_ns > 3600'000'000'000)
    return bad("web.client_timeout", "must be between 1s and 1h");
  if (c.web.threads == 0 || c.web.threads > 64)
    return bad("web.threads", "must be between 1 and 64");
  if (c.web.min_scrape_interval_ns > 60'000'000'000)
    return bad("web.min_scrape_interval", "must be at most 1m (0s renders every scrape)");
  for (const auto& [user, hash] : c.web.basic_auth_users) {
    if (hash.rfind("$2", 0) != 0)
      return bad("web.basic_auth_users." + user,
                 "expected a bcrypt hash ($2y$...), not a plain password");
  }
  if (auto k = runtime::parse_keep_capabilities(c.privileges.keep_capabilities); !k)
    return bad("privileges.keep_capabilities", k.error());
  static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "off"};
  if (!levels.count(c.log_level))
    return bad("log_level",
               "expected trace, debug, info, warn, error or off, got '" + c.log_level + "'");
  return {};
}

}  // namespace ksight::config
