#include "metrics/mp_python_file.hpp"

#include <bit>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

namespace o11y::detail::mp {
namespace {

void append_key(std::string& key, std::string_view v) {
  const auto len = static_cast<std::uint32_t>(v.size());
  key.append(reinterpret_cast<const char*>(&len), sizeof len);
  key.append(v);
}

//
// File names: {counter,histogram,summary}_{pid}.db and gauge_{mode}_{pid}.db. Content: an
// int32 `used`, 4 bytes of padding, then entries of int32 length, a UTF-8 JSON key
// [metric_name, sample_name, {labels}, help] padded so the value is 8-byte aligned, then the
// value: one double up to 0.17, a double and a timestamp double from 0.18. The two layouts
// are told apart by which one parses exactly to `used`.

struct PyEntry {
  std::string_view key;
  double value = 0;
  double timestamp = 0;
};

bool walk_python(const char* data, std::size_t used, std::size_t value_bytes,
                 std::vector<PyEntry>& out) {
  out.clear();
  std::size_t pos = 8;
  while (pos < used) {
    std::int32_t len = 0;
    if (used - pos < 4)
      return false;
    std::memcpy(&len, data + pos, 4);
    if (len <= 0 || static_cast<std::size_t>(len) > used - pos - 4)
      return false;
    const auto n = static_cast<std::size_t>(len);
    PyEntry e;
    e.key = std::string_view(data + pos + 4, n);
    if (e.key.front() != '[')
      return false;
    pos += 4 + n + (8 - (n + 4) % 8);
    if (pos > used || used - pos < value_bytes)
      return false;
    std::memcpy(&e.value, data + pos, 8);
    if (value_bytes == 16)
      std::memcpy(&e.timestamp, data + pos + 8, 8);
    pos += value_bytes;
    out.push_back(e);
  }
  return pos == used;
}

std::optional<GaugeMode> python_mode(std::string_view m) {
  static const std::pair<std::string_view, GaugeMode> kModes[] = {
      {"all", GaugeMode::All},
      {"liveall", GaugeMode::LiveAll},
      {"min", GaugeMode::Min},
      {"livemin", GaugeMode::LiveMin},
      {"max", GaugeMode::Max},
      {"livemax", GaugeMode::LiveMax},
      {"sum", GaugeMode::Sum},
      {"livesum", GaugeMode::LiveSum},
      {"mostrecent", GaugeMode::MostRecent},
      {"livemostrecent", GaugeMode::LiveMostRecent}};
  for (const auto& [name, mode] : kModes) {
    if (name == m)
      return mode;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> read_python_file(const std::string& path, const std::string& name,
                                            FileData& out, FileInfo& info) {
  // The name says the type, the gauge mode and the pid.
  const std::string stem = name.substr(0, name.size() - 3);
  const auto first = stem.find('_');
  if (first == std::string::npos)
    return std::string("not a prometheus_client file name");
  const std::string type = stem.substr(0, first);
  std::string rest = stem.substr(first + 1);
  GaugeMode mode = GaugeMode::All;
  MetricType mtype = MetricType::Counter;
  if (type == "gauge") {
    const auto second = rest.find('_');
    if (second == std::string::npos)
      return std::string("gauge file name without a mode");
    const auto m = python_mode(rest.substr(0, second));
    if (!m)
      return "unknown gauge mode \"" + rest.substr(0, second) + "\"";
    mode = *m;
    mtype = MetricType::Gauge;
    rest = rest.substr(second + 1);
  } else if (type == "histogram") {
    mtype = MetricType::Histogram;
  } else if (type != "counter") {
    return "prometheus_client " + type + " files are not aggregated";
  }
  try {
    info.pid = std::stoi(rest);
  } catch (...) {
    return std::string("no pid in the file name");
  }

  if (auto why = map_file(path, 8, out.map))
    return why;
  const auto size = out.map.size();
  const auto* data = out.map.data();
  std::int32_t used = 0;
  std::memcpy(&used, data, 4);
  if (used < 8 || static_cast<std::size_t>(used) > size)
    return "bad used length " + std::to_string(used);

  std::vector<PyEntry> entries;
  const bool v16 = !walk_python(data, static_cast<std::size_t>(used), 8, entries) &&
                   walk_python(data, static_cast<std::size_t>(used), 16, entries);
  if (entries.empty() && used > 8)
    return std::string("corrupt: neither the 0.16 nor the 0.18 layout parses");
  (void)v16;
  info.live = process_alive(info.pid, 0);
  info.running = info.live;
  info.created_ns = 0;  // Python's files do not say

  // Families by metric name; series by label values (sorted label names, as Python keeps them).
  struct PySeries {
    std::vector<std::string> values;
    std::map<double, double> buckets;  // le -> count
    double value = 0;
    double sum = 0;
    double timestamp = 0;
  };
  struct PyFamily {
    FamilyMeta meta;
    std::map<std::string, PySeries> series;  // by joined values
  };
  std::map<std::string, PyFamily> fams;
  for (const auto& e : entries) {
    const auto j = nlohmann::json::parse(e.key, nullptr, false);
    if (!j.is_array() || j.size() != 4 || !j[0].is_string() || !j[1].is_string() ||
        !j[2].is_object()) {
      return std::string("corrupt: an entry key is not [metric, sample, labels, help]");
    }
    const std::string metric = j[0].get<std::string>();
    const std::string sample = j[1].get<std::string>();
    auto& fam = fams[metric];
    if (fam.meta.name.empty()) {
      fam.meta.name = metric;
      fam.meta.help = j[3].is_string() ? j[3].get<std::string>() : std::string();
      fam.meta.type = mtype;
      fam.meta.mode = mode;
    }
    std::vector<std::string> names;
    std::vector<std::string> values;
    std::string le;
    for (const auto& [k, v] : j[2].items()) {  // nlohmann keeps object keys sorted
      if (!v.is_string())
        return std::string("corrupt: a label value is not a string");
      if (mtype == MetricType::Histogram && k == "le") {
        le = v.get<std::string>();
        continue;
      }
      names.push_back(k);
      values.push_back(v.get<std::string>());
    }
    fam.meta.labels = names;
    std::string joined;
    for (const auto& v : values)
      append_key(joined, v);
    auto& ser = fam.series[joined];
    ser.values = values;
    if (mtype == MetricType::Histogram) {
      if (sample.ends_with("_bucket")) {
        double bound = 0;
        try {
          bound = le == "+Inf" ? std::numeric_limits<double>::infinity() : std::stod(le);
        } catch (...) {
          return "corrupt: bucket bound \"" + le + "\"";
        }
        ser.buckets[bound] += e.value;
      } else if (sample.ends_with("_sum")) {
        ser.sum += e.value;
      }
    } else if (mtype == MetricType::Counter) {
      if (sample.ends_with("_total"))
        ser.value += e.value;  // _created is not a count
    } else {
      ser.value = e.value;
      ser.timestamp = e.timestamp;
    }
  }
  for (auto& [metric, fam] : fams) {
    if (fam.meta.type == MetricType::Histogram) {
      std::map<double, bool> bounds;
      for (const auto& [k, ser] : fam.series) {
        for (const auto& [b, c] : ser.buckets)
          bounds[b] = true;
      }
      for (const auto& [b, unused] : bounds) {
        if (!std::isinf(b))
          fam.meta.buckets.push_back(b);
      }
    }
    const auto id = static_cast<std::uint32_t>(out.families.size());
    out.families.push_back(fam.meta);
    const FamilyMeta& meta = out.families.back();
    for (auto& [k, ser] : fam.series) {
      SeriesData sd;
      sd.family = id;
      for (auto& v : ser.values)
        sd.values.emplace_back(out.owned.emplace_back(std::move(v)));
      if (meta.type == MetricType::Histogram) {
        for (double b : meta.buckets) {
          const auto it = ser.buckets.find(b);
          sd.cells.push_back(
              static_cast<std::uint64_t>(it == ser.buckets.end() ? 0.0 : it->second));
        }
        const auto inf = ser.buckets.find(std::numeric_limits<double>::infinity());
        sd.cells.push_back(
            static_cast<std::uint64_t>(inf == ser.buckets.end() ? 0.0 : inf->second));
        sd.cells.push_back(std::bit_cast<std::uint64_t>(ser.sum));
      } else {
        sd.cells.push_back(std::bit_cast<std::uint64_t>(ser.value));
        if (meta.cells() == 2)
          sd.cells.push_back(static_cast<std::uint64_t>(ser.timestamp * 1e9));
      }
      out.series.push_back(std::move(sd));
    }
  }
  return std::nullopt;
}

void merge(const FileData& file, const FileInfo& info, Aggregate& agg) {
  std::vector<Aggregate::Binding> bindings;
  bindings.reserve(file.families.size());
  for (const auto& m : file.families)
    bindings.push_back(agg.bind(m, info.pid));
  for (const auto& s : file.series)
    (void)agg.add(bindings[s.family], s.values, s.cells, info.pid, info.live);
}

}  // namespace o11y::detail::mp
