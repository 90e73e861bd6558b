// Network probes against real traffic: two network namespaces joined by a
// veth pair, made by each test and removed by RAII guards even when the test
// fails, so nothing depends on the outside network and other traffic on the
// machine is told apart by the test's own addresses, ports and cgroups.
#include <arpa/inet.h>
#include <bpf/btf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "harness.h"
#include "runtime/cgroup.h"
#include "testnet.h"

namespace ksight::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::unique_ptr<Child> start_trace(const TempDir& dir, std::vector<std::string> args) {
  std::vector<std::string> argv{ksight_binary(), "trace"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"-o", "json", "--log-level", "info"});
  auto c = std::make_unique<Child>(argv, dir.file("trace.out"), dir.file("trace.err"));
  EXPECT_TRUE(eventually(
      [&] { return read_file(dir.file("trace.err")).find("attached") != std::string::npos; }, 15s))
      << read_file(dir.file("trace.err"));
  return c;
}

std::vector<json> stop_trace(Child& trace, const TempDir& dir) {
  trace.signal(SIGINT);
  EXPECT_EQ(trace.wait(10s), 0) << read_file(dir.file("trace.err"));
  std::vector<json> out;
  for (const auto& l : read_lines(dir.file("trace.out"))) out.push_back(json::parse(l));
  return out;
}

std::string cg_label(uint64_t id) {
  return "cgroup_id=\"" + std::to_string(id) + "\"";
}

// Sum of a histogram's _count series for one cgroup.
double histogram_count(const std::string& text, const std::string& name, uint64_t cg) {
  return metric(text, name + "_count{" + cg_label(cg) + "}").value_or(0);
}

// 10 IPv4 and 10 IPv6 connections: exactly one connect, accept and close on
// each end of each, with the client ports the test saw.
void tcp_trace_sees_every_connection(std::vector<std::string> extra) {
  TestNet net;
  REQUIRE_NET(net);
  TempDir dir;
  constexpr int kPort = 5001, kPerFamily = 10, kBytes = 1000;
  std::vector<std::string> args{"tcp"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto trace = start_trace(dir, args);
  std::set<int> client_ports[2];
  for (int fam = 0; fam < 2; ++fam) {
    const std::string& server = fam ? net.server6 : net.server4;
    Sock l = listener(net.server_ns(), server, kPort);
    ASSERT_GE(l.get(), 0) << server;
    for (int i = 0; i < kPerFamily; ++i) {
      Sock c = connect_to(net.client_ns(), server, kPort);
      ASSERT_GE(c.get(), 0) << "connect " << server << ": " << std::strerror(errno);
      client_ports[fam].insert(local_port(c.get()));
      Sock a(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
      ASSERT_TRUE(send_all(c.get(), kBytes));
      ASSERT_EQ(recv_all(a.get(), kBytes), size_t{kBytes});
      c.close();
      a.close();
    }
  }
  // Both ends reach CLOSE once the FIN exchange is done: give it a moment.
  std::this_thread::sleep_for(500ms);
  auto events = stop_trace(*trace, dir);

  for (int fam = 0; fam < 2; ++fam) {
    const std::string& server = fam ? net.server6 : net.server4;
    const std::string& client = fam ? net.client6 : net.client4;
    SCOPED_TRACE(server);
    std::multiset<int> connects, accepts, client_closes, server_closes;
    for (const auto& ev : events) {
      bool to_server = ev["daddr"] == server && ev["dport"] == kPort && ev["saddr"] == client;
      bool from_server = ev["saddr"] == server && ev["sport"] == kPort && ev["daddr"] == client;
      if (!to_server && !from_server) continue;
      EXPECT_EQ(ev["family"], fam ? "ipv6" : "ipv4");
      const std::string kind = ev["event"];
      if (kind == "connect" && to_server) {
        connects.insert(ev["sport"].get<int>());
        EXPECT_EQ(ev["pid"], ::getpid()) << ev;  // recorded at connect(), not in softirq
      } else if (kind == "accept" && from_server) {
        accepts.insert(ev["dport"].get<int>());
        EXPECT_EQ(ev["pid"], ::getpid()) << ev;  // the listener's owner
      } else if (kind == "close" && to_server) {
        client_closes.insert(ev["sport"].get<int>());
        EXPECT_GE(ev["tx_bytes"].get<uint64_t>(), uint64_t{kBytes}) << ev;
        EXPECT_GT(ev["srtt_us"].get<uint64_t>(), 0u) << ev;
        EXPECT_GT(ev["duration_ms"].get<double>(), 0.0) << ev;
      } else if (kind == "close" && from_server) {
        server_closes.insert(ev["dport"].get<int>());
        EXPECT_GE(ev["rx_bytes"].get<uint64_t>(), uint64_t{kBytes}) << ev;
      } else {
        ADD_FAILURE() << "unexpected event " << ev;
      }
    }
    std::multiset<int> want(client_ports[fam].begin(), client_ports[fam].end());
    ASSERT_EQ(want.size(), size_t{kPerFamily});
    EXPECT_EQ(connects, want);
    EXPECT_EQ(accepts, want);
    EXPECT_EQ(client_closes, want);
    EXPECT_EQ(server_closes, want);
    std::printf("[ net ] %s: %zu connects, %zu accepts, %zu client closes, %zu server closes\n",
                server.c_str(), connects.size(), accepts.size(), client_closes.size(),
                server_closes.size());
  }
}

TEST(Net, TcpTraceSeesEveryOpenAndCloseWithItsPorts) {
  tcp_trace_sees_every_connection({});
}

TEST(Net, TcpClassicTracepointFallbackSeesTheSameConnections) {
  tcp_trace_sees_every_connection({"--disable-feature", "tp_btf,raw_tp"});
}

TEST(Net, TcpMetricsCountTheConnectionsOfACgroup) {
  TestNet net;
  REQUIRE_NET(net);
  auto cg = runtime::ScopedCgroup::create("ksight-net-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(cg) << cg.error();
  TempDir dir;
  Daemon d(dir, {"--probes", "tcp,tcprtt,cgroupnet", "--identity-labels", "cgroup_id"}, false);
  ASSERT_TRUE(d.wait_ready({"tcp", "tcprtt", "cgroupnet"})) << d.log();
  constexpr int kConns = 20;
  constexpr size_t kBytes = 100000;
  // Listener and client both in the cgroup: every socket is charged to it.
  int rc = run_in_cgroup(*cg, [&] {
    Sock l = listener(net.server_ns(), net.server4, 5002);
    if (l.get() < 0) return 2;
    for (int i = 0; i < kConns; ++i) {
      Sock c = connect_to(net.client_ns(), net.server4, 5002);
      if (c.get() < 0) return 3;
      Sock a(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
      std::thread reader([&] { recv_all(a.get(), kBytes); });
      bool ok = send_all(c.get(), kBytes);
      reader.join();
      if (!ok) return 4;
      c.close();
      a.close();
    }
    std::this_thread::sleep_for(300ms);  // the last FIN exchange
    return 0;
  });
  ASSERT_EQ(rc, 0);
  const std::string id = cg_label(cg->id());
  std::string text;
  ASSERT_TRUE(eventually(
      [&] {
        text = d.scrape();
        return metric(text, "ksight_tcp_connections_closed_total{" + id + "}").value_or(0) >=
               2 * kConns;
      },
      5s))
      << text;
  EXPECT_EQ(metric(text, "ksight_tcp_connections_opened_total{" + id + ",direction=\"active\"}"),
            kConns);
  EXPECT_EQ(metric(text, "ksight_tcp_connections_opened_total{" + id + ",direction=\"passive\"}"),
            kConns);
  EXPECT_EQ(metric(text, "ksight_tcp_connections_closed_total{" + id + "}"), 2 * kConns);
  EXPECT_EQ(histogram_count(text, "ksight_tcp_connection_duration_seconds", cg->id()), 2 * kConns);
  // bytes_acked / bytes_received count the SYN and the FIN too: one byte each.
  EXPECT_GE(metric(text, "ksight_tcp_sent_bytes_total{" + id + "}").value_or(0),
            kConns * static_cast<double>(kBytes));
  EXPECT_GE(metric(text, "ksight_tcp_received_bytes_total{" + id + "}").value_or(0),
            kConns * static_cast<double>(kBytes));

  // tcprtt: every segment received on an established connection is a sample.
  double rtt_samples = histogram_count(text, "ksight_tcp_rtt_seconds", cg->id());
  EXPECT_GE(rtt_samples, 2 * kConns) << text;
  std::printf(
      "[ net ] cgroup %llu: opened %g active %g passive, closed %g, sent %g B, received %g B, "
      "%g rtt samples\n",
      static_cast<unsigned long long>(cg->id()),
      metric(text, "ksight_tcp_connections_opened_total{" + id + ",direction=\"active\"}")
          .value_or(-1),
      metric(text, "ksight_tcp_connections_opened_total{" + id + ",direction=\"passive\"}")
          .value_or(-1),
      metric(text, "ksight_tcp_connections_closed_total{" + id + "}").value_or(-1),
      metric(text, "ksight_tcp_sent_bytes_total{" + id + "}").value_or(-1),
      metric(text, "ksight_tcp_received_bytes_total{" + id + "}").value_or(-1), rtt_samples);

  // cgroupnet: the payload crossed the cgroup's sockets twice (out of the
  // client, into the accepted socket), headers on top.
  double tx =
      metric(text, "ksight_cgroup_network_bytes_total{" + id + ",direction=\"tx\"}").value_or(0);
  double rx =
      metric(text, "ksight_cgroup_network_bytes_total{" + id + ",direction=\"rx\"}").value_or(0);
  EXPECT_GE(tx, kConns * static_cast<double>(kBytes)) << text;
  EXPECT_GE(rx, kConns * static_cast<double>(kBytes)) << text;
  std::printf("[ net ] cgroupnet: tx %g B, rx %g B for %zu B of payload\n", tx, rx,
              kConns * kBytes);
  EXPECT_GT(
      metric(text, "ksight_cgroup_network_packets_total{" + id + ",direction=\"tx\"}").value_or(0),
      2 * kConns);
  ASSERT_EQ(d.stop(), 0) << d.log();
}

TEST(Net, TcprttHistogramMovesWithTraffic) {
  TestNet net;
  REQUIRE_NET(net);
  auto cg = runtime::ScopedCgroup::create("ksight-rtt-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(cg) << cg.error();
  TempDir dir;
  auto trace = std::make_unique<Child>(
      std::vector<std::string>{ksight_binary(), "trace", "tcprtt", "--by", "cgroup", "--cgroup",
                               cg->path(), "--log-level", "info"},
      dir.file("rtt.out"), dir.file("rtt.err"));
  ASSERT_TRUE(eventually(
      [&] { return read_file(dir.file("rtt.err")).find("attached") != std::string::npos; }, 15s))
      << read_file(dir.file("rtt.err"));
  int rc = run_in_cgroup(*cg, [&] {
    Sock l = listener(net.server_ns(), net.server6, 5003);
    Sock c = connect_to(net.client_ns(), net.server6, 5003);
    if (l.get() < 0 || c.get() < 0) return 2;
    Sock a(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
    int one = 1;
    ::setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ::setsockopt(a.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    // 200 request/response round trips: each side receives 200 segments.
    for (int i = 0; i < 200; ++i) {
      if (!send_all(c.get(), 64) || recv_all(a.get(), 64) != 64) return 3;
      if (!send_all(a.get(), 64) || recv_all(c.get(), 64) != 64) return 4;
    }
    return 0;
  });
  ASSERT_EQ(rc, 0);
  trace->signal(SIGINT);
  ASSERT_EQ(trace->wait(10s), 0) << read_file(dir.file("rtt.err"));
  std::string out = read_file(dir.file("rtt.out"));
  // "cgroup_id = <id> (<n> samples, ...)" heads the cgroup's histogram.
  auto head = out.find("cgroup_id = " + std::to_string(cg->id()) + " (");
  ASSERT_NE(head, std::string::npos) << out;
  uint64_t samples = std::stoull(out.substr(out.find('(', head) + 1));
  EXPECT_GE(samples, 400u) << out;
  std::printf("[ net ] tcprtt: %llu samples in the test cgroup\n",
              static_cast<unsigned long long>(samples));
}

TEST(Net, CgroupnetTracePrintsTheCgroupsTotals) {
  TestNet net;
  REQUIRE_NET(net);
  auto cg = runtime::ScopedCgroup::create("ksight-cgnet-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(cg) << cg.error();
  TempDir dir;
  Child trace({ksight_binary(), "trace", "cgroupnet", "--log-level", "info"}, dir.file("cg.out"),
              dir.file("cg.err"));
  ASSERT_TRUE(eventually(
      [&] { return read_file(dir.file("cg.err")).find("attached") != std::string::npos; }, 15s))
      << read_file(dir.file("cg.err"));
  // Only the client is in the cgroup: its bytes go out, the server's stay outside.
  constexpr size_t kBytes = 300000;
  Sock l = listener(net.server_ns(), net.server4, 5005);
  ASSERT_GE(l.get(), 0);
  std::thread server([&] {
    Sock a(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
    recv_all(a.get(), kBytes);
  });
  int rc = run_in_cgroup(*cg, [&] {
    Sock c = connect_to(net.client_ns(), net.server4, 5005);
    return c.get() >= 0 && send_all(c.get(), kBytes) ? 0 : 2;
  });
  server.join();
  ASSERT_EQ(rc, 0);
  trace.signal(SIGINT);
  ASSERT_EQ(trace.wait(10s), 0) << read_file(dir.file("cg.err"));
  // Rows "CGROUP_ID DIRECTION VALUE" under each family's name.
  std::istringstream in(read_file(dir.file("cg.out")));
  std::string line, family;
  double tx_bytes = -1, rx_bytes = -1;
  while (std::getline(in, line)) {
    if (line.rfind("ksight_", 0) == 0) family = line;
    std::istringstream row(line);
    std::string id, dir_label;
    double v = 0;
    if (!(row >> id >> dir_label >> v) || id != std::to_string(cg->id())) continue;
    if (family == "ksight_cgroup_network_bytes_total")
      (dir_label == "tx" ? tx_bytes : rx_bytes) = v;
  }
  std::printf("[ net ] trace cgroupnet: cgroup %llu tx %g B, rx %g B for %zu B sent\n",
              static_cast<unsigned long long>(cg->id()), tx_bytes, rx_bytes, kBytes);
  EXPECT_GE(tx_bytes, static_cast<double>(kBytes)) << read_file(dir.file("cg.out"));
  EXPECT_GT(rx_bytes, 0) << read_file(dir.file("cg.out"));  // the ACKs
  EXPECT_LT(rx_bytes, static_cast<double>(kBytes)) << read_file(dir.file("cg.out"));
}

// The cgroup_skb programs sit on the root of every cgroup: they must go
// when the agent goes, or every packet of the machine keeps paying for them.
TEST(Net, CgroupnetLeavesNothingOnTheRootCgroup) {
  KSIGHT_REQUIRE_BPF();
  const std::string root = runtime::cgroup2_mount();
  ASSERT_FALSE(root.empty());
  auto ours = [&] {
    auto r = run({"/usr/sbin/bpftool", "-j", "cgroup", "show", root});
    EXPECT_EQ(r.code, 0) << r.err;
    int n = 0;
    // bpftool prints a bare newline, not [], when nothing is attached.
    bool blank = r.out.find_first_not_of(" \n") == std::string::npos;
    for (const auto& p : json::parse(blank ? "[]" : r.out))
      if (p.value("name", "").rfind("cgroupnet_", 0) == 0) ++n;
    return n;
  };
  const int before = ours();
  TempDir dir;
  Daemon d(dir, {"--probes", "cgroupnet", "--identity-labels", "cgroup_id"}, false);
  ASSERT_TRUE(d.wait_ready({"cgroupnet"})) << d.log();
  EXPECT_EQ(ours(), before + 2);  // ingress and egress
  ASSERT_EQ(d.stop(), 0) << d.log();
  EXPECT_TRUE(eventually([&] { return ours() == before; }, 5s))
      << ours() - before << " cgroupnet programs still attached to " << root;
}

TEST(Net, RandomLossMakesRetransmits) {
  TestNet net;
  REQUIRE_NET(net);
  TempDir dir;
  constexpr int kPort = 5004;
  auto trace = start_trace(dir, {"tcpretrans"});
  Sock l = listener(net.server_ns(), net.server4, kPort);
  Sock c = connect_to(net.client_ns(), net.server4, kPort);
  ASSERT_GE(c.get(), 0);
  Sock a(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  const int client_port = local_port(c.get());
  // 30% of what reaches the server on this port is lost from now on.
  NftTable fw(net.server_ns(), "ksight_loss");
  ASSERT_FALSE(fw.add({"add", "table", "inet", "ksight_loss"}));
  ASSERT_FALSE(fw.add({"add", "chain", "inet", "ksight_loss", "in", "{", "type", "filter", "hook",
                       "input", "priority", "0", ";", "}"}));
  ASSERT_FALSE(
      fw.add({"add", "rule", "inet", "ksight_loss", "in", "tcp", "dport", std::to_string(kPort),
              "numgen", "random", "mod", "100", "<", "30", "drop"}));
  int one = 1;
  ::setsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  constexpr size_t kChunk = 1000, kChunks = 100;
  std::thread reader([&] { recv_all(a.get(), kChunk * kChunks); });
  for (size_t i = 0; i < kChunks; ++i) ASSERT_TRUE(send_all(c.get(), kChunk));
  reader.join();
  std::this_thread::sleep_for(300ms);
  auto events = stop_trace(*trace, dir);
  int ours = 0;
  for (const auto& ev : events) {
    if (ev["saddr"] == net.client4 && ev["sport"] == client_port && ev["daddr"] == net.server4 &&
        ev["dport"] == kPort) {
      ++ours;
      EXPECT_EQ(ev["state"], "established") << ev;
      EXPECT_EQ(ev["family"], "ipv4");
    }
  }
  std::printf("[ net ] %d retransmits of %s:%d with 30%% loss\n", ours, net.client4.c_str(),
              client_port);
  EXPECT_GT(ours, 0) << events.size() << " retransmit events, none of " << net.client4 << ":"
                     << client_port;
}

// The running kernel's BTF has this type: what a test expects of a probe
// follows what the kernel can tell, as the probe's CO-RE checks do.
bool kernel_btf_has(const char* name, int kind) {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  bool has = vmlinux && btf__find_by_name_kind(vmlinux, name, kind) >= 0;
  btf__free(vmlinux);
  return has;
}

TEST(Net, ConnectToAClosedPortCountsResets) {
  TestNet net;
  REQUIRE_NET(net);
  auto cg = runtime::ScopedCgroup::create("ksight-rst-test-" + std::to_string(::getpid()));
  ASSERT_TRUE(cg) << cg.error();
  TempDir dir;
  Daemon d(dir, {"--probes", "tcpreset", "--identity-labels", "cgroup_id"}, false);
  ASSERT_TRUE(d.wait_ready({"tcpreset"})) << d.log();
  const std::string sent_none =
      "ksight_tcp_resets_total{cgroup_id=\"0\",state=\"none\",direction=\"sent\"}";
  double sent_before = metric(d.scrape(), sent_none).value_or(0);
  constexpr int kTries = 5;
  int rc = run_in_cgroup(*cg, [&] {
    for (int i = 0; i < kTries; ++i) {
      Sock c = connect_to(net.client_ns(), net.server4, 5999);  // nobody listens
      if (c.get() >= 0 || errno != ECONNREFUSED) return 2;
    }
    return 0;
  });
  ASSERT_EQ(rc, 0) << "connects to a closed port were not refused";
  const std::string received = "ksight_tcp_resets_total{" + cg_label(cg->id()) +
                               ",state=\"syn_sent\",direction=\"received\"}";
  std::string text;
  ASSERT_TRUE(eventually(
      [&] {
        text = d.scrape();
        return metric(text, received).value_or(0) >= kTries;
      },
      5s))
      << text;
  EXPECT_EQ(metric(text, received), kTries);
  std::printf(
      "[ net ] resets received in syn_sent: %g; sent without socket: +%g (traced from 6.10)\n",
      metric(text, received).value_or(-1), metric(text, sent_none).value_or(0) - sent_before);
  // The server side answered without a socket: cgroup 0, state none. Kernels
  // trace such resets since tcp_send_reset became an event of its own (6.10,
  // with the reset reason); before, only resets sent by a socket.
  if (kernel_btf_has("trace_event_raw_tcp_send_reset", BTF_KIND_STRUCT)) {
    EXPECT_GE(metric(text, sent_none).value_or(0) - sent_before, kTries);
  }
  ASSERT_EQ(d.stop(), 0) << d.log();
}

TEST(Net, UdpToAClosedPortCountsANoSocketDrop) {
  TestNet net;
  REQUIRE_NET(net);
  TempDir dir;
  Daemon d(dir, {"--probes", "netdrop", "--identity-labels", "cgroup_id"}, false);
  ASSERT_TRUE(d.wait_ready({"netdrop"})) << d.log();
  // __udp4_lib_rcv() frees a datagram no socket wants with
  // SKB_DROP_REASON_NO_SOCKET, after answering it with ICMP port unreachable.
  // Before drop reasons, the drop is counted where it was freed: in UDP's
  // receive path.
  // Drop reasons came with 5.17.
  const bool reasons = kernel_btf_has("skb_drop_reason", BTF_KIND_ENUM);
  const std::string series = reasons ? "ksight_packets_dropped_total{reason=\"no_socket\"}"
                                     : "ksight_packets_dropped_total{reason=\"location:";
  auto drops = [&](const std::string& text) {
    if (reasons) return metric(text, series).value_or(0);
    double sum = 0;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
      if (line.starts_with(series) && line.find("udp") != std::string::npos)
        sum += std::stod(line.substr(line.rfind(' ') + 1));
    return sum;
  };
  double before = drops(d.scrape());
  constexpr int kPackets = 50;
  Addr dst(net.server4, 6999);
  Sock u(socket_in(net.client_ns(), AF_INET, SOCK_DGRAM));
  ASSERT_GE(u.get(), 0);
  for (int i = 0; i < kPackets; ++i) {
    // Each ICMP error makes the next send on this socket fail with
    // ECONNREFUSED instead of sending: unconnected sendto() does not.
    ASSERT_EQ(::sendto(u.get(), "x", 1, 0, dst.sa(), dst.len), 1) << std::strerror(errno);
  }
  std::string text;
  EXPECT_TRUE(eventually(
      [&] {
        text = d.scrape();
        return drops(text) - before >= kPackets;
      },
      5s))
      << "before " << before << "\n"
      << text;
  std::printf("[ net ] %s drops: %g -> %g for %d datagrams\n",
              reasons ? "no_socket" : "UDP receive path (no drop reasons)", before, drops(text),
              kPackets);
  ASSERT_EQ(d.stop(), 0) << d.log();
}

// The tcpconnlat row of `ksight probes --json ARGS`.
json tcpconnlat_row(std::vector<std::string> args = {}) {
  std::vector<std::string> argv{ksight_binary(), "probes", "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto probes = run(argv);
  EXPECT_EQ(probes.code, 0) << probes.err;
  for (const auto& p : json::parse(probes.out, nullptr, false))
    if (p.is_object() && p["probe"] == "tcpconnlat") return p;
  return {};
}

// 10 connects through `ksight trace tcpconnlat ARGS`: each timed once.
void tcpconnlat_times_every_connect(const TestNet& net, const std::vector<std::string>& args,
                                    const std::string& method) {
  TempDir dir;
  constexpr int kPort = 5006, kConnects = 10;
  std::vector<std::string> trace_args{"tcpconnlat"};
  trace_args.insert(trace_args.end(), args.begin(), args.end());
  auto trace = start_trace(dir, trace_args);
  Sock l = listener(net.server_ns(), net.server4, kPort);
  ASSERT_GE(l.get(), 0);
  std::set<int> ports;
  for (int i = 0; i < kConnects; ++i) {
    Sock c = connect_to(net.client_ns(), net.server4, kPort);
    ASSERT_GE(c.get(), 0) << std::strerror(errno);
    ports.insert(local_port(c.get()));
    Sock a(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
  }
  std::this_thread::sleep_for(300ms);
  trace->signal(SIGINT);
  ASSERT_EQ(trace->wait(10s), 0) << read_file(dir.file("trace.err"));
  // The events, then the latency histogram printed at exit.
  std::vector<json> events;
  for (const auto& l : read_lines(dir.file("trace.out")))
    if (l.starts_with("{")) events.push_back(json::parse(l));
  std::multiset<int> timed;
  for (const auto& ev : events) {
    if (ev["daddr"] != net.server4 || ev["dport"] != kPort) continue;
    timed.insert(ev["sport"].get<int>());
    EXPECT_GT(ev["latency_ms"].get<double>(), 0.0) << ev;
    EXPECT_LT(ev["latency_ms"].get<double>(), 5000.0) << ev;
  }
  EXPECT_EQ(timed, std::multiset<int>(ports.begin(), ports.end())) << method;
  std::printf("[ net ] tcpconnlat (%s): %zu of %d connects timed\n", method.c_str(), timed.size(),
              kConnects);
}

// Where fentry or kprobes exist (not on the development host: the kernel
// matrix's guests), every connect is timed, through fentry and, with fentry
// turned off, through the kprobe fallback.
TEST(Net, TcpconnlatTimesEveryConnect) {
  TestNet net;
  REQUIRE_NET(net);
  json row = tcpconnlat_row();
  ASSERT_FALSE(row.is_null());
  if (!row["available"]) {
    // Net.TcpconnlatSaysWhyWhereItCannotAttach checks the reason.
    std::printf("[ net ] tcpconnlat cannot attach here: %s\n",
                row["reason"].get<std::string>().c_str());
    return;
  }
  tcpconnlat_times_every_connect(net, {}, row["attach"]);
  json kprobe = tcpconnlat_row({"--disable-feature", "fentry"});
  if (row["attach"] == "fentry" && kprobe["available"] == true)
    tcpconnlat_times_every_connect(net, {"--disable-feature", "fentry"}, kprobe["attach"]);
}

TEST(Net, TcpconnlatSaysWhyWhereItCannotAttach) {
  KSIGHT_REQUIRE_BPF();
  auto probes = run({ksight_binary(), "probes", "--json"});
  ASSERT_EQ(probes.code, 0) << probes.err;
  json row;
  for (const auto& p : json::parse(probes.out))
    if (p["probe"] == "tcpconnlat") row = p;
  ASSERT_FALSE(row.is_null()) << probes.out;
  auto r = run({ksight_binary(), "trace", "tcpconnlat", "--duration", "1s"}, 20s);
  if (row["available"]) {
    // A kernel with fentry or kprobes: the probe must work.
    EXPECT_EQ(r.code, 0) << r.err;
    return;
  }
  std::string reason = row["reason"];
  EXPECT_NE(reason.find("fentry tcp_v4_connect: "), std::string::npos) << reason;
  EXPECT_NE(reason.find("kprobe tcp_v4_connect: "), std::string::npos) << reason;
  EXPECT_EQ(r.code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  // One line, naming the probe and both reasons.
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_NE(r.err.find("tcpconnlat"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(reason), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ksight::test
