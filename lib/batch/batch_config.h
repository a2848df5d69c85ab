#pragma once
// The knobs of one model's dynamic batcher (Triton's dynamic_batching block):
// server-wide defaults from servelab-server's flags, overridden per model by
// the `[batching]` table of its model.toml.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace servelab::batch {

struct BatchConfig {
  // Rows per batch at most (a request of more rows than this runs alone).
  int64_t max_batch_size = 32;
  // A partial batch leaves once its oldest request has waited this long
  // (Triton's max_queue_delay_microseconds). Zero: dispatch whatever is
  // queued as soon as an execution slot is free.
  std::chrono::microseconds max_queue_delay{2000};
  // Rows; when non-empty a batch is cut to the largest of these that the
  // queue can fill (≤ the size limit), else it takes everything up to the limit.
  std::vector<int64_t> preferred_batch_sizes;
  // Requests waiting (not yet dispatched) at most; one more is rejected
  // with queue_full (HTTP 503 + Retry-After).
  size_t max_queue_size = 2048;
  // A request still queued after this long is answered with queue_timeout
  // (HTTP 503 + Retry-After) instead of being computed. Zero: no timeout.
  std::chrono::microseconds queue_timeout{std::chrono::seconds(10)};
  // Adjust the size limit (between 1 and max_batch_size) so that one batch's
  // execution takes about target_batch_time.
  bool adaptive = false;
  std::chrono::microseconds target_batch_time{5000};
  // Deliver completions in arrival order even when several batches execute
  // at once (max_in_flight > 1) and a later one finishes first.
  bool preserve_ordering = false;
  // Batches of this model executing at once (the server sets it to its
  // compute threads).
  int max_in_flight = 1;
};

}  // namespace servelab::batch
