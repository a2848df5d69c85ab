#pragma once
// Scenario files that set every key away from its default, for the echo
// tests (scenario_json_test.cpp) and its golden file golden/scenario_echo.json.

#include <string_view>

namespace servelab::scenario::testing {

// Open loop with rate stages, every section set, every request kind (http
// with a body and a secret header, infer on one model, spread by zipf and by
// weights, generate with and without a seed).
inline constexpr std::string_view kEveryKey = R"(
name = "every-key"
description = "every section away from its default"
target = "http://127.0.0.1:8000"
thresholds = ["p(99)<50ms", "error_rate<1%"]

[load]
mode = "open"
connections = 64
threads = 4
rate = 2500.5
arrival = "poisson"
engine = "native"
duration = "12s"
warmup = "2s"
timeout = "1500ms"

[[load.stages]]
duration = "4s"
rate = 100

[[load.stages]]
duration = "8s"
rate = 1000.5

[toggles]
pooling = false
batching = true
streaming = true
async_loading = true

[server]
threads = 3
model_repository = "/tmp/servelab-models"
model_count = 5
dims = [16, 32, 8]
model_seed = 7
model_memory_budget = "64MiB"
max_concurrent_loads = 4
prediction = false
load_wait_timeout = "45s"

[pool]
min = 2
max = 32
idle_timeout = "5s"
max_age = "10m"
health_check_interval = "250ms"
health_check_path = "/healthz"

[tls]
insecure = true
ca_file = "/etc/ssl/ca.pem"

[http]
http2 = true
streams_per_connection = 8

[[requests]]
kind = "http"
name = "post json"
weight = 2.5
method = "POST"
url = "/v2/models/mlp-0/infer"
body = '{"inputs": []}'
[requests.headers]
Content-Type = "application/json"
Authorization = "Bearer secret"

[[requests]]
kind = "infer"
model = "mlp-1"
rows = 8
seed = 99

[[requests]]
kind = "infer"
name = "spread"
model_count = 3
distribution = "zipf"
zipf_exponent = 1.25

[[requests]]
kind = "infer"
models = ["a", "b"]
weights = [3, 1.5]

[[requests]]
kind = "generate"
model = "tiny"
prompts = ["Hi", "Tell me a story"]
max_tokens = 64
stream = false
temperature = 0.75
seed = 11
url = "http://127.0.0.1:9000/v1/completions"
extra_body = { ignore_eos = true, top_p = 0.5 }
[requests.headers]
X-Trace = "on"

[[requests]]
kind = "generate"
model = "tiny"
prompt = "One"
)";

// Closed loop with connection stages and a think time.
inline constexpr std::string_view kClosedStages = R"(
name = "closed-stages"

[load]
connections = 10
think_time = "10ms"

[[load.stages]]
duration = "1s"
connections = 20

[[load.stages]]
duration = "2s"
connections = 5

[[requests]]
kind = "http"
url = "/v2/health/ready"
)";

}  // namespace servelab::scenario::testing
