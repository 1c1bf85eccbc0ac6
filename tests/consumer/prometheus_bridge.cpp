// Exits 0 only when a prometheus-cpp registry, exposed through the installed adapter, is in
// our exposition, and our families are in prometheus-cpp's collection.
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <cstdio>
#include <o11y/metrics.hpp>
#include <o11y/prometheus.hpp>
#include <string>

int main() {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("legacy_jobs_total")
      .Help("Jobs")
      .Register(*registry)
      .Add({})
      .Increment(2);
  o11y::metrics::expose(registry);
  o11y::counter("consumer_orders_total", "Orders").add(1);
  const auto text = o11y::metrics::render();
  bool ours = false;
  for (const auto& f : o11y::metrics::collectable()->Collect())
    ours = ours || f.name == "consumer_orders_total";
  const bool ok = text.find("legacy_jobs_total 2") != std::string::npos && ours;
  std::printf("consumer_prometheus: %s\n", ok ? "ok" : "FAILED");
  return ok ? 0 : 1;
}
