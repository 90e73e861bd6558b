#include "bpf/event_channel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

namespace ksight::bpf {

namespace {

size_t page_size() {
  return static_cast<size_t>(::sysconf(_SC_PAGESIZE));
}

int on_ring_record(void* ctx, void* data, size_t size) {
  static_cast<RecordHandler*>(ctx)->on_record(data, size);
  return 0;
}

// PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW: header, u32 size, then the bytes.
struct PerfSample {
  perf_event_header header;
  uint32_t size;
};
struct PerfLost {
  perf_event_header header;
  uint64_t id;
  uint64_t lost;
};

bpf_perf_event_ret on_perf_event(void* ctx, int /*cpu*/, perf_event_header* ev) {
  auto* handler = static_cast<RecordHandler*>(ctx);
  if (ev->type == PERF_RECORD_SAMPLE) {
    auto* s = reinterpret_cast<PerfSample*>(ev);
    handler->on_record(reinterpret_cast<const char*>(s + 1), s->size);
  } else if (ev->type == PERF_RECORD_LOST) {
    handler->on_lost(reinterpret_cast<PerfLost*>(ev)->lost);
  }
  return LIBBPF_PERF_EVENT_CONT;
}

std::string errno_text(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

}  // namespace

std::string_view to_string(ChannelKind k) {
  return k == ChannelKind::ring_buffer ? "ring_buffer" : "perf_buffer";
}

std::expected<EventChannel, std::string> EventChannel::create(ChannelKind kind, size_t bytes) {
  if (kind == ChannelKind::ring_buffer) {
    size_t size = std::bit_ceil(std::max(bytes, page_size()));
    Fd fd(bpf_map_create(BPF_MAP_TYPE_RINGBUF, "ksight_events", 0, 0, static_cast<__u32>(size),
                         nullptr));
    if (!fd) return std::unexpected(errno_text("creating the ring buffer map", errno));
    return EventChannel(kind, std::move(fd), size);
  }
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return std::unexpected(errno_text("counting possible CPUs", -cpus));
  Fd fd(bpf_map_create(BPF_MAP_TYPE_PERF_EVENT_ARRAY, "ksight_events", sizeof(int), sizeof(int),
                       static_cast<__u32>(cpus), nullptr));
  if (!fd) return std::unexpected(errno_text("creating the perf event array", errno));
  EventChannel ch(kind, std::move(fd), bytes);
  // perf wants a power-of-two page count per CPU.
  size_t pages = std::max<size_t>(8, bytes / page_size() / static_cast<size_t>(cpus));
  ch.page_cnt_ = std::bit_floor(pages);
  ch.bytes_ = ch.page_cnt_ * page_size() * static_cast<size_t>(cpus);
  return ch;
}

EventChannel::EventChannel(EventChannel&& o) noexcept
    : kind_(o.kind_),
      map_(std::move(o.map_)),
      bytes_(o.bytes_),
      page_cnt_(o.page_cnt_),
      ring_(std::exchange(o.ring_, nullptr)),
      perf_(std::exchange(o.perf_, nullptr)),
      handler_(o.handler_),
      consumer_pos_(std::exchange(o.consumer_pos_, nullptr)),
      producer_pos_(std::exchange(o.producer_pos_, nullptr)) {}

EventChannel& EventChannel::operator=(EventChannel&& o) noexcept {
  if (this != &o) {
    release();
    kind_ = o.kind_;
    map_ = std::move(o.map_);
    bytes_ = o.bytes_;
    page_cnt_ = o.page_cnt_;
    ring_ = std::exchange(o.ring_, nullptr);
    perf_ = std::exchange(o.perf_, nullptr);
    handler_ = o.handler_;
    consumer_pos_ = std::exchange(o.consumer_pos_, nullptr);
    producer_pos_ = std::exchange(o.producer_pos_, nullptr);
  }
  return *this;
}

EventChannel::~EventChannel() {
  release();
}

void EventChannel::release() {
  if (ring_) ring_buffer__free(ring_);
  if (perf_) perf_buffer__free(perf_);
  ring_ = nullptr;
  perf_ = nullptr;
  if (consumer_pos_) ::munmap(const_cast<uint64_t*>(consumer_pos_), page_size());
  if (producer_pos_) ::munmap(const_cast<uint64_t*>(producer_pos_), page_size());
  consumer_pos_ = producer_pos_ = nullptr;
}

std::expected<void, std::string> EventChannel::open_reader(RecordHandler* handler) {
  handler_ = handler;
  if (kind_ == ChannelKind::ring_buffer) {
    ring_ = ring_buffer__new(map_.get(), on_ring_record, handler, nullptr);
    if (!ring_) return std::unexpected(errno_text("opening the ring buffer", errno));
    // The kernel lays the ring out as [consumer pos page][producer pos page]
    // [data]; mapping the first two read-only gives the fill level for free.
    void* c = ::mmap(nullptr, page_size(), PROT_READ, MAP_SHARED, map_.get(), 0);
    void* p = ::mmap(nullptr, page_size(), PROT_READ, MAP_SHARED, map_.get(),
                     static_cast<off_t>(page_size()));
    if (c != MAP_FAILED) consumer_pos_ = static_cast<const volatile uint64_t*>(c);
    if (p != MAP_FAILED) producer_pos_ = static_cast<const volatile uint64_t*>(p);
    return {};
  }
  perf_event_attr attr{};
  attr.type = PERF_TYPE_SOFTWARE;
  attr.size = sizeof(attr);
  attr.config = PERF_COUNT_SW_BPF_OUTPUT;
  attr.sample_type = PERF_SAMPLE_RAW;
  attr.sample_period = 1;
  // Wake the reader when a CPU's buffer is half full, not per record:
  // libbpf's default of one wake-up per record caps out near 70 k events/s.
  attr.watermark = 1;
  attr.wakeup_watermark = static_cast<__u32>(page_cnt_ * page_size() / 2);
  perf_ = perf_buffer__new_raw(map_.get(), page_cnt_, &attr, on_perf_event, handler, nullptr);
  if (!perf_) return std::unexpected(errno_text("opening the perf buffer", errno));
  return {};
}

int EventChannel::poll_and_drain(int timeout_ms) {
  int n = 0, m = 0;
  if (ring_) {
    // ring_buffer__poll only drains rings that signalled; records written
    // with BPF_RB_NO_WAKEUP need the explicit consume.
    n = ring_buffer__poll(ring_, timeout_ms);
    if (n < 0 && n != -EINTR) return n;
    m = ring_buffer__consume(ring_);
  } else if (perf_) {
    n = perf_buffer__poll(perf_, timeout_ms);
    if (n < 0 && n != -EINTR) return n;
    m = perf_buffer__consume(perf_);
  }
  if (m < 0) return m;
  return std::max(n, 0) + m;
}

int EventChannel::wait_fd() const {
  if (ring_) return ring_buffer__epoll_fd(ring_);
  if (perf_) return perf_buffer__epoll_fd(perf_);
  return -1;
}

int EventChannel::drain() {
  if (ring_) return ring_buffer__consume(ring_);
  if (perf_) return perf_buffer__consume(perf_);
  return 0;
}

double EventChannel::fill_ratio() const {
  if (!consumer_pos_ || !producer_pos_ || bytes_ == 0) return -1;
  uint64_t cons = *consumer_pos_;
  uint64_t prod = *producer_pos_;
  return prod > cons ? static_cast<double>(prod - cons) / static_cast<double>(bytes_) : 0.0;
}

}  // namespace ksight::bpf
