#include "profile/pprof.h"

#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <google/protobuf/io/gzip_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include "pprof/profile.pb.h"

namespace ksight::profile {

namespace {

constexpr std::string_view kKernelMapping = "[kernel.kallsyms]";

namespace pb = perftools::profiles;

// The message's tables: every string once in string_table ("" first, as the
// format requires), and ids that start at 1 (0 means "none").
class PprofBuilder {
 public:
  PprofBuilder() { string_id(""); }

  int64_t string_id(std::string_view s) {
    auto it = strings_.find(std::string(s));
    if (it != strings_.end()) return it->second;
    auto id = static_cast<int64_t>(out_.string_table_size());
    out_.add_string_table(std::string(s));
    strings_.emplace(std::string(s), id);
    return id;
  }

  void value_type(pb::ValueType* vt, std::string_view type, std::string_view unit) {
    vt->set_type(string_id(type));
    vt->set_unit(string_id(unit));
  }

  uint64_t mapping_id(const Frame& frame) {
    std::string module = module_of(frame);
    if (module.empty()) return 0;
    auto [it, added] = mappings_.try_emplace(module, out_.mapping_size() + 1);
    if (added) {
      pb::Mapping* m = out_.add_mapping();
      m->set_id(it->second);
      m->set_filename(string_id(module));
      m->set_build_id(string_id(frame.build_id));
      // Functions are resolved already: pprof must not look for the files
      // (they are on another machine, or in a container's filesystem).
      m->set_has_functions(true);
    } else if (!frame.build_id.empty()) {
      pb::Mapping* m = out_.mutable_mapping(static_cast<int>(it->second - 1));
      if (m->build_id() == 0) m->set_build_id(string_id(frame.build_id));
    }
    return it->second;
  }

  uint64_t function_id(const Frame& frame) {
    std::string name = frame.display();
    std::string module = module_of(frame);
    auto [it, added] = functions_.try_emplace({name, module}, out_.function_size() + 1);
    if (added) {
      pb::Function* f = out_.add_function();
      f->set_id(it->second);
      f->set_name(string_id(name));
      f->set_system_name(string_id(name));
    }
    return it->second;
  }

  uint64_t location_id(const Frame& frame) {
    std::string module = module_of(frame);
    auto [it, added] = locations_.try_emplace({module, frame.address}, out_.location_size() + 1);
    if (added) {
      pb::Location* loc = out_.add_location();
      loc->set_id(it->second);
      loc->set_mapping_id(mapping_id(frame));
      loc->set_address(frame.address);
      loc->add_line()->set_function_id(function_id(frame));
    }
    return it->second;
  }

  void add_sample(const Sample& sample) {
    pb::Sample* s = out_.add_sample();
    for (const Frame& frame : sample.frames) s->add_location_id(location_id(frame));
    s->add_value(static_cast<int64_t>(sample.count));
    s->add_value(static_cast<int64_t>(sample.value_ns));
    pb::Label* pid = s->add_label();
    pid->set_key(string_id("pid"));
    pid->set_num(sample.pid);
    pb::Label* comm = s->add_label();
    comm->set_key(string_id("comm"));
    comm->set_str(string_id(sample.comm));
    if (!sample.workload.empty()) {
      pb::Label* workload = s->add_label();
      workload->set_key(string_id("workload"));
      workload->set_str(string_id(sample.workload));
    }
  }

  pb::Profile& profile() { return out_; }

 private:
  static std::string module_of(const Frame& frame) {
    if (frame.kernel && frame.module.empty()) return std::string(kKernelMapping);
    return frame.module;
  }

  pb::Profile out_;
  std::unordered_map<std::string, int64_t> strings_;
  std::map<std::string, uint64_t> mappings_;
  std::map<std::pair<std::string, std::string>, uint64_t> functions_;
  std::map<std::pair<std::string, uint64_t>, uint64_t> locations_;
};

pb::Profile to_message(const Profile& profile) {
  PprofBuilder b;
  pb::Profile& p = b.profile();
  bool cpu = profile.kind == ProfileKind::cpu;
  std::string_view time_type = cpu ? "cpu" : "offcpu";
  b.value_type(p.add_sample_type(), "samples", "count");
  b.value_type(p.add_sample_type(), time_type, "nanoseconds");
  b.value_type(p.mutable_period_type(), time_type, "nanoseconds");
  p.set_period(cpu ? static_cast<int64_t>(profile.period_ns) : 1);
  p.set_time_nanos(profile.start_unix_ns);
  p.set_duration_nanos(static_cast<int64_t>(profile.duration_ns));
  for (const Sample& sample : profile.samples) b.add_sample(sample);
  return std::move(p);
}

}  // namespace

std::string pprof_bytes(const Profile& profile) {
  return to_message(profile).SerializeAsString();
}

std::string pprof_gzip(const Profile& profile) {
  pb::Profile message = to_message(profile);
  std::string out;
  {
    google::protobuf::io::StringOutputStream bytes(&out);
    // Options' default format is GZIP (a gzip header and trailer, not
    // zlib's): what pprof and Go's net/http/pprof handlers use.
    google::protobuf::io::GzipOutputStream gzip(&bytes);
    // Writes into a string cannot fail but for memory, which throws.
    message.SerializeToZeroCopyStream(&gzip);
    gzip.Close();
  }
  return out;
}

}  // namespace ksight::profile
