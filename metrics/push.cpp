#include <httplib.h>

#include <string>

#include "o11y/metrics.hpp"

namespace o11y::metrics {
namespace {

// Path segments of the Pushgateway API: /metrics/job/<job>/<label>/<value>. Values that
// could break the path are sent base64url-encoded with the "@base64" suffix the API defines.
std::string segment(std::string_view name, std::string_view value) {
  const bool plain = !value.empty() && value.find_first_of("/%?#") == std::string_view::npos;
  if (plain)
    return "/" + std::string(name) + "/" + std::string(value);
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string enc;
  std::size_t i = 0;
  for (; i + 2 < value.size(); i += 3) {
    const auto n = (static_cast<unsigned>(static_cast<unsigned char>(value[i])) << 16U) |
                   (static_cast<unsigned>(static_cast<unsigned char>(value[i + 1])) << 8U) |
                   static_cast<unsigned>(static_cast<unsigned char>(value[i + 2]));
    for (int s = 18; s >= 0; s -= 6)
      enc.push_back(kAlphabet[(n >> static_cast<unsigned>(s)) & 63U]);
  }
  const std::size_t rest = value.size() - i;
  if (rest > 0) {
    unsigned n = static_cast<unsigned>(static_cast<unsigned char>(value[i])) << 16U;
    if (rest == 2)
      n |= static_cast<unsigned>(static_cast<unsigned char>(value[i + 1])) << 8U;
    enc.push_back(kAlphabet[(n >> 18U) & 63U]);
    enc.push_back(kAlphabet[(n >> 12U) & 63U]);
    enc.push_back(rest == 2 ? kAlphabet[(n >> 6U) & 63U] : '=');
    enc.push_back('=');
  }
  if (enc.empty())
    enc = "=";  // an empty value
  return "/" + std::string(name) + "@base64/" + enc;
}

}  // namespace

int push(std::string_view gateway_url, std::string_view job,
         const std::map<std::string, std::string>& grouping) {
  if (job.empty())
    throw MetricError("push: the job name must not be empty");
  std::string path = "/metrics" + segment("job", job);
  for (const auto& [k, v] : grouping)
    path += segment(k, v);
  try {
    httplib::Client client{std::string(gateway_url)};
    client.set_connection_timeout(5);
    client.set_read_timeout(10);
    const auto res =
        client.Put(path, render(Format::Text), std::string(content_type(Format::Text)));
    return res ? res->status : -static_cast<int>(res.error());
  } catch (...) {
    return -1;
  }
}

}  // namespace o11y::metrics
