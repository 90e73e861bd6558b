#pragma once
// Pieces the subcommands share: exit codes, logging, signal handling.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "config/config.h"
#include "identity/kube_source.h"
#include "identity/resolver.h"
#include "runtime/agent.h"

namespace ksight::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // runtime failure
inline constexpr int kExitUsage = 2;    // bad flags, bad config, unknown probe

// Blocks SIGINT, SIGTERM and SIGHUP in this thread and every thread it starts later,
// so they are taken only by wait_for_signal(). Call before starting threads.
void block_stop_signals();
// Waits up to `timeout` for SIGINT/SIGTERM/SIGHUP; returns the signal or 0.
int wait_for_signal(std::chrono::milliseconds timeout);
// How long a main loop may sleep: until the earliest of `due_ns` (mono ns,
// UINT64_MAX for nothing due), rounded up to a whole millisecond, and no
// longer than `longest`. Zero when something is already due.
std::chrono::milliseconds idle_wait(uint64_t now_ns, std::initializer_list<uint64_t> due_ns,
                                    std::chrono::milliseconds longest = std::chrono::seconds(1));

void setup_logging(const std::string& level);

runtime::AgentOptions agent_options(const config::Config& c);
// identity.kubernetes, .kubeconfig, .node_name, .deleted_pod_ttl.
identity::KubeSourceOptions kube_options(const config::Config& c);
// identity.labels, parsed (validate() has checked them).
std::vector<identity::Label> identity_labels(const config::Config& c);

// Prints "ksight: <message>" on stderr and returns `code`.
int fail(int code, const std::string& message);

// A hint for a load failure that looks like missing privileges.
std::string privilege_hint(const std::string& error);

}  // namespace ksight::cli
