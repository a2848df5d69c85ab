#include "load/run_stats.h"

namespace servelab::load {

std::string_view to_string(ErrorClass c) {
  switch (c) {
    case ErrorClass::connect:
      return "connect";
    case ErrorClass::timeout:
      return "timeout";
    case ErrorClass::http_4xx:
      return "http_4xx";
    case ErrorClass::http_5xx:
      return "http_5xx";
    case ErrorClass::protocol:
      return "protocol";
    case ErrorClass::kCount:
      break;
  }
  return "unknown";
}

void Counters::add(const Counters& o) {
  requests += o.requests;
  ok += o.ok;
  for (size_t i = 0; i < errors.size(); ++i) errors[i] += o.errors[i];
  late += o.late;
  unfinished += o.unfinished;
  bytes_in += o.bytes_in;
  bytes_out += o.bytes_out;
  connections_opened += o.connections_opened;
}

// A request that never connected reached no server: counted as an error, not
// as throughput (a refused port otherwise "sustains" tens of thousands per second).
double RunStats::rps() const {
  if (measured.count() <= 0) return 0;
  const uint64_t connect = counters.errors[static_cast<size_t>(ErrorClass::connect)];
  const uint64_t reached = counters.requests > connect ? counters.requests - connect : 0;
  return static_cast<double>(reached) / (static_cast<double>(measured.count()) / 1e6);
}

double RunStats::connection_reuse_rate() const {
  if (counters.requests == 0) return 0;
  const double r = 1.0 - static_cast<double>(counters.connections_opened) /
                             static_cast<double>(counters.requests);
  return r < 0 ? 0 : r;
}

}  // namespace servelab::load
