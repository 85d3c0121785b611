#include "metrics/metrics.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace waitline::metrics {
namespace {

constexpr double kLatencyBuckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

template <class Metric>
constexpr bool kIsHistogram = std::is_same_v<Metric, Histogram>;

template <class Metric>
constexpr std::string_view type_name() {
  if constexpr (std::is_same_v<Metric, Counter>) {
    return "counter";
  } else if constexpr (std::is_same_v<Metric, Gauge>) {
    return "gauge";
  } else {
    return "histogram";
  }
}

// Spelled out rather than <cctype>, whose answers depend on the locale.
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// Prometheus data model: metric names match [a-zA-Z_:][a-zA-Z0-9_:]*.
void check_metric_name(const std::string& name) {
  const auto valid = [](char c) { return is_name_char(c) || c == ':'; };
  if (name.empty() || (name[0] >= '0' && name[0] <= '9') || !std::ranges::all_of(name, valid)) {
    throw std::invalid_argument("metrics: invalid metric name \"" + name + '"');
  }
}

// Label names match [a-zA-Z_][a-zA-Z0-9_]*, "__" is reserved for Prometheus itself, a series
// cannot carry the same label twice, and histograms own "le".
void check_label_names(const std::string& metric, const std::vector<std::string>& labels, bool is_histogram) {
  for (auto label = labels.begin(); label != labels.end(); ++label) {
    const bool valid = !label->empty() && is_name_start(label->front()) && std::ranges::all_of(*label, is_name_char) &&
                       !label->starts_with("__");
    const bool taken = std::find(labels.begin(), label, *label) != label || (is_histogram && *label == "le");
    if (!valid || taken) {
      throw std::invalid_argument("metrics: " + metric + ": invalid or repeated label name \"" + *label + '"');
    }
  }
}

// +Inf is implied and NaN has no place, so the bounds are finite and strictly ascending.
void check_bounds(std::span<const double> bounds) {
  const bool finite = std::ranges::all_of(bounds, [](double bound) { return std::isfinite(bound); });
  if (!finite || std::ranges::adjacent_find(bounds, std::ranges::greater_equal{}) != bounds.end()) {
    throw std::invalid_argument("metrics: histogram bounds must be finite and strictly ascending");
  }
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[std::numeric_limits<std::uint64_t>::digits10 + 1];
  out.append(digits, std::to_chars(std::begin(digits), std::end(digits), value).ptr);
}

// Shortest round-trip digits in %g style: the spelling client_golang uses (strconv 'g', -1),
// so le="0.0001" rather than le="1e-04".
void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char digits[32];
    out.append(digits, std::to_chars(std::begin(digits), std::end(digits), value, std::chars_format::general).ptr);
  }
}

// HELP text escapes backslash and newline; label values escape the double quote as well.
void append_escaped(std::string& out, std::string_view text, bool escape_quote) {
  for (const char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && escape_quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

void append_header(std::string& out, std::string_view name, std::string_view help, std::string_view type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  append_escaped(out, help, false);
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

// `a="x",b="y"`: a child's labels, rendered once and shared by all of its samples.
std::string label_pairs(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  std::string pairs;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) pairs += ',';
    pairs += names[i];
    pairs += "=\"";
    append_escaped(pairs, values[i], true);
    pairs += '"';
  }
  return pairs;
}

template <class Number>
void append_sample(std::string& out, std::string_view name, std::string_view suffix, std::string_view pairs,
                   Number value) {
  out += name;
  out += suffix;
  if (!pairs.empty()) {
    out += '{';
    out += pairs;
    out += '}';
  }
  out += ' ';
  append_number(out, value);
  out += '\n';
}

void append_histogram(std::string& out, std::string_view name, const std::string& pairs, const Histogram& histogram) {
  const Histogram::Snapshot snapshot = histogram.snapshot();
  const std::span<const double> bounds = histogram.bounds();
  std::string bucket_pairs = pairs.empty() ? "le=\"" : pairs + ",le=\"";
  const std::size_t bound_at = bucket_pairs.size();
  for (std::size_t i = 0; i < snapshot.cumulative.size(); ++i) {
    bucket_pairs.resize(bound_at);
    append_number(bucket_pairs, i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity());
    bucket_pairs += '"';
    append_sample(out, name, "_bucket", bucket_pairs, snapshot.cumulative[i]);
  }
  append_sample(out, name, "_sum", pairs, snapshot.sum);
  append_sample(out, name, "_count", pairs, snapshot.cumulative.back());
}

template <class Number>
void append_metric(std::string& out, std::string_view name, std::string_view type, std::string_view help,
                   Number value) {
  append_header(out, name, help, type);
  append_sample(out, name, "", "", value);
}

// The label values given to with(), ordered against the stored keys so that finding an
// existing child allocates nothing.
struct LabelValues {
  std::initializer_list<std::string_view> values;

  friend bool operator<(const std::vector<std::string>& key, const LabelValues& probe) {
    return std::is_lt(
        std::lexicographical_compare_three_way(key.begin(), key.end(), probe.values.begin(), probe.values.end()));
  }
  friend bool operator<(const LabelValues& probe, const std::vector<std::string>& key) {
    return std::is_lt(
        std::lexicographical_compare_three_way(probe.values.begin(), probe.values.end(), key.begin(), key.end()));
  }
};

template <class Metric>
std::unique_ptr<Metric> make_metric([[maybe_unused]] const std::vector<double>& buckets) {
  if constexpr (kIsHistogram<Metric>) {
    return std::make_unique<Histogram>(buckets);
  } else {
    return std::make_unique<Metric>();
  }
}

std::string read_file(const char* path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

struct ProcessStat {
  std::uint64_t cpu_ticks;      // utime + stime
  std::uint64_t start_ticks;    // since boot
  std::uint64_t virtual_bytes;  // vsize
  std::uint64_t resident_pages;
};

std::optional<ProcessStat> read_process_stat() {
  // Fields follow "pid (comm)", and comm may itself hold spaces and parentheses.
  const std::string stat = read_file("/proc/self/stat");
  const std::size_t comm_end = stat.rfind(')');
  if (comm_end == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(comm_end + 1));
  const std::vector<std::string> fields{std::istream_iterator<std::string>(rest), std::istream_iterator<std::string>()};
  // proc(5) numbers fields from 1 and the first after comm is field 3.
  const auto field = [&fields](std::size_t number) {
    return number - 3 < fields.size() ? parse_number(fields[number - 3]) : std::nullopt;
  };
  const auto utime = field(14), stime = field(15), start = field(22), vsize = field(23), rss = field(24);
  if (!utime || !stime || !start || !vsize || !rss) return std::nullopt;
  return ProcessStat{*utime + *stime, *start, *vsize, *rss};
}

std::optional<std::uint64_t> read_boot_time() {
  const std::string stat = read_file("/proc/stat");
  constexpr std::string_view key = "\nbtime ";
  const std::size_t at = stat.find(key);
  if (at == std::string::npos) return std::nullopt;
  const std::size_t from = at + key.size();
  return parse_number(std::string_view(stat).substr(from, stat.find('\n', from) - from));
}

std::optional<std::uint64_t> count_open_fds() {
  std::error_code error;
  std::uint64_t count = 0;
  for (std::filesystem::directory_iterator fd("/proc/self/fd", error), end; !error && fd != end; fd.increment(error)) {
    ++count;
  }
  if (error) return std::nullopt;
  return count;
}

}  // namespace

Histogram::Histogram(std::span<const double> upper_bounds)
    : bounds_(upper_bounds.begin(), upper_bounds.end()),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds_.size() + 1)) {
  check_bounds(bounds_);
}

void Histogram::observe(double v) noexcept {
  // The first bound >= v, as buckets are "less or equal"; NaN compares false against every
  // bound and so lands in +Inf, as in client_golang.
  const auto bucket = std::ranges::partition_point(bounds_, [v](double bound) { return !(v <= bound); });
  const auto index = static_cast<std::size_t>(bucket - bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  double sum = sum_.load(std::memory_order_relaxed);
  while (!sum_.compare_exchange_weak(sum, sum + v, std::memory_order_relaxed)) {
  }
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot taken;
  taken.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    taken.cumulative.push_back(running);
  }
  taken.sum = sum_.load(std::memory_order_relaxed);
  return taken;
}

std::span<const double> latency_buckets() noexcept { return kLatencyBuckets; }

template <class Metric>
Family<Metric>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {
  check_metric_name(name_);
  check_label_names(name_, label_names_, kIsHistogram<Metric>);
  if constexpr (kIsHistogram<Metric>) check_bounds(buckets_);
}

template <class Metric>
Metric& Family<Metric>::with(std::initializer_list<std::string_view> label_values) {
  if (label_values.size() != label_names_.size()) {
    throw std::invalid_argument("metrics: " + name_ + " takes " + std::to_string(label_names_.size()) +
                                " label values, not " + std::to_string(label_values.size()));
  }
  const LabelValues probe{label_values};
  const std::lock_guard lock(mutex_);
  auto child = children_.lower_bound(probe);
  if (child == children_.end() || probe < child->first) {
    child = children_.emplace_hint(child, std::vector<std::string>(label_values.begin(), label_values.end()),
                                   make_metric<Metric>(buckets_));
  }
  return *child->second;
}

template <class Metric>
void Family<Metric>::render(std::string& out) const {
  append_header(out, name_, help_, type_name<Metric>());
  const std::lock_guard lock(mutex_);
  for (const auto& [label_values, metric] : children_) {
    const std::string pairs = label_pairs(label_names_, label_values);
    if constexpr (kIsHistogram<Metric>) {
      append_histogram(out, name_, pairs, *metric);
    } else {
      append_sample(out, name_, "", pairs, metric->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

struct Registry::Entry {
  template <class Metric>
  Entry(std::in_place_type_t<Family<Metric>> kind, std::string metric_name, std::string help,
        std::vector<std::string> labels, std::vector<double> buckets)
      : name(metric_name),
        family(kind, std::move(metric_name), std::move(help), std::move(labels), std::move(buckets)) {}

  // Nested, so it may reach the registry's members without widening the header.
  template <class Metric>
  static Family<Metric>& add(Registry& registry, std::string name, std::string help, std::vector<std::string> labels,
                             std::vector<double> buckets = {}) {
    const std::lock_guard lock(registry.mutex_);
    // process_* belongs to render_process_metrics, which would otherwise print it twice.
    const bool taken = name.starts_with("process_") ||
                       std::ranges::any_of(registry.entries_,
                                           [&name](const auto& entry) { return entry->name == name; });
    if (taken) throw std::invalid_argument("metrics: " + name + " is already registered");
    auto entry = std::make_unique<Entry>(std::in_place_type<Family<Metric>>, std::move(name), std::move(help),
                                         std::move(labels), std::move(buckets));
    auto& family = std::get<Family<Metric>>(entry->family);
    registry.entries_.push_back(std::move(entry));
    return family;
  }

  std::string name;
  std::variant<Family<Counter>, Family<Gauge>, Family<Histogram>> family;
};

Registry::Registry() = default;
Registry::~Registry() = default;

Family<Counter>& Registry::counter(std::string name, std::string help, std::vector<std::string> labels) {
  return Entry::add<Counter>(*this, std::move(name), std::move(help), std::move(labels));
}

Family<Gauge>& Registry::gauge(std::string name, std::string help, std::vector<std::string> labels) {
  return Entry::add<Gauge>(*this, std::move(name), std::move(help), std::move(labels));
}

Family<Histogram>& Registry::histogram(std::string name, std::string help, std::vector<std::string> labels,
                                       std::span<const double> buckets) {
  return Entry::add<Histogram>(*this, std::move(name), std::move(help), std::move(labels),
                               {buckets.begin(), buckets.end()});
}

std::string Registry::render() const {
  std::string out;
  {
    const std::lock_guard lock(mutex_);
    for (const auto& entry : entries_) {
      std::visit([&out](const auto& family) { family.render(out); }, entry->family);
    }
  }
  render_process_metrics(out);
  return out;
}

// Whatever /proc cannot tell is left out rather than reported as zero.
void render_process_metrics(std::string& out) {
  const auto ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
  const std::optional<ProcessStat> stat = read_process_stat();
  if (stat) {
    append_metric(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
                  static_cast<double>(stat->cpu_ticks) / ticks_per_second);
    append_metric(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                  stat->resident_pages * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)));
    append_metric(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", stat->virtual_bytes);
  }
  if (const auto open_fds = count_open_fds()) {
    append_metric(out, "process_open_fds", "gauge", "Number of open file descriptors.", *open_fds);
  }
  if (rlimit limit{}; getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    append_metric(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                  static_cast<std::uint64_t>(limit.rlim_cur));
  }
  const std::optional<std::uint64_t> boot_time = read_boot_time();
  if (stat && boot_time) {
    append_metric(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                  static_cast<double>(*boot_time) + static_cast<double>(stat->start_ticks) / ticks_per_second);
  }
}

}  // namespace waitline::metrics
