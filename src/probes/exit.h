#pragma once
#include "probes/probe.h"

namespace ksight::probes {
std::expected<std::unique_ptr<Probe>, std::string> create_exit_probe(const LoadRequest& req,
                                                                     core::Registry& reg);
}  // namespace ksight::probes
