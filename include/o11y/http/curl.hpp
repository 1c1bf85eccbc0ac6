#pragma once

// The libcurl adapter (target o11y::curl). Header-only: it compiles against the libcurl your
// program links, and all the logic it calls lives behind the framework-neutral <o11y/http.hpp>.
#include <curl/curl.h>

#include <cstdlib>
#include <string>
#include <string_view>

#include "o11y/http.hpp"

namespace o11y::http::curl {

namespace detail {

/// The parts of a URL the client span records; user and password are left out of url.full.
struct Target {
  std::string url;
  std::string host;
  int port = 0;
};

inline Target target_of(CURL* easy) {
  Target t;
  char* effective = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &effective) != CURLE_OK ||
      effective == nullptr) {
    return t;
  }
  CURLU* u = curl_url();
  if (u == nullptr || curl_url_set(u, CURLUPART_URL, effective, 0) != CURLUE_OK) {
    curl_url_cleanup(u);
    t.url = effective;
    return t;
  }
  curl_url_set(u, CURLUPART_USER, nullptr, 0);
  curl_url_set(u, CURLUPART_PASSWORD, nullptr, 0);
  char* part = nullptr;
  if (curl_url_get(u, CURLUPART_URL, &part, 0) == CURLUE_OK) {
    t.url = part;
    curl_free(part);
  }
  if (curl_url_get(u, CURLUPART_HOST, &part, 0) == CURLUE_OK) {
    t.host = part;
    curl_free(part);
  }
  if (curl_url_get(u, CURLUPART_PORT, &part, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    t.port = std::atoi(part);
    curl_free(part);
  }
  curl_url_cleanup(u);
  return t;
}

}  // namespace detail

/// curl_easy_perform, traced: a CLIENT span (child of the current span) with the method, URL
/// (without credentials), server address and port and the response status; traceparent and
/// tracestate are sent with the request. `headers` is the list you set as CURLOPT_HTTPHEADER,
/// if any: the transfer sends it plus the trace headers, and the handle has it back afterwards
/// (a handle's header list cannot be read from it, so one set but not passed here is replaced
/// for this transfer). Returns what curl_easy_perform returns.
inline CURLcode perform(CURL* easy, curl_slist* headers = nullptr) {
  const auto t = detail::target_of(easy);
  // libcurl knows the method only once the transfer ran; the span is renamed then.
  ClientScope scope("GET", t.url, t.host, t.port);
  curl_slist* sent = nullptr;
  bool complete = true;
  for (const curl_slist* h = headers; h != nullptr && complete; h = h->next) {
    curl_slist* next = curl_slist_append(sent, h->data);
    complete = next != nullptr;
    sent = complete ? next : sent;
  }
  for (const auto& [name, value] : scope.headers()) {
    if (!complete)
      break;
    const std::string line = name + ": " + value;
    curl_slist* next = curl_slist_append(sent, line.c_str());
    complete = next != nullptr;
    sent = complete ? next : sent;
  }
  if (complete)
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, sent);
  const CURLcode rc = curl_easy_perform(easy);
  if (complete)
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
  curl_slist_free_all(sent);

  char* method = nullptr;
  if (curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_METHOD, &method) == CURLE_OK &&
      method != nullptr && std::string_view(method) != "GET") {
    const auto m = normalize_method(method);
    scope.span().update_name(m);
    scope.span().set_attribute("http.request.method", m);
    if (m == "_OTHER")
      scope.span().set_attribute("http.request.method_original", std::string_view(method));
  }
  if (rc != CURLE_OK) {
    scope.fail(curl_easy_strerror(rc));
    return rc;
  }
  long status = 0;  // NOLINT(google-runtime-int): libcurl's type
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  scope.finish(static_cast<int>(status));
  return rc;
}

}  // namespace o11y::http::curl
