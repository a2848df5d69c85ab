// HttpServer over real loopback sockets.

#include "http/http_server.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "http/test_client.h"

namespace servelab::http {
namespace {

using namespace servelab::test;

// Echoes the target; counts calls.
Response echo(Request&& request) {
  Response res(bhttp::status::ok, request.version());
  res.set(bhttp::field::content_type, "text/plain");
  res.body() = std::string(request.target()) + ":" + request.body();
  return res;
}

ServerConfig small_config() {
  ServerConfig config;
  config.threads = 2;
  config.max_header_bytes = 1024;
  config.max_body_bytes = 64;
  return config;
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  for (int i = 0; i < 3; ++i) {
    Response res = client.roundtrip(make_request(bhttp::verb::post, "/r" + std::to_string(i), "b"));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "/r" + std::to_string(i) + ":b");
    EXPECT_TRUE(res.keep_alive());
  }
  EXPECT_EQ(server.stats().opened.load(), 1u);
  EXPECT_EQ(server.stats().requests.load(), 3u);
}

TEST(HttpServer, ConnectionCloseClosesAfterTheResponse) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  Request req = make_request(bhttp::verb::get, "/bye");
  req.keep_alive(false);
  Response res = client.roundtrip(std::move(req));
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(client.read_until_closed(), asio::error::eof);
  EXPECT_TRUE(wait_until([&] { return server.stats().closed.load() == 1; }));
}

TEST(HttpServer, Http10WithoutKeepAliveCloses) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  ASSERT_FALSE(client.send_raw("GET /old HTTP/1.0\r\n\r\n"));
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(res.body(), "/old:");
  EXPECT_EQ(client.read_until_closed(), asio::error::eof);
}

TEST(HttpServer, Expect100ContinueGetsGoAheadBeforeTheBody) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  ASSERT_FALSE(client.send_raw(
      "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  Response interim;
  ASSERT_FALSE(client.read(interim));
  EXPECT_EQ(interim.result_int(), 100u);
  ASSERT_FALSE(client.send_raw("hello"));
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "/e:hello");
}

TEST(HttpServer, Expect100ContinueWithOversizeBodyGets413WithoutGoAhead) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  ASSERT_FALSE(client.send_raw(
      "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n"));
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(res.result_int(), 413u);
}

TEST(HttpServer, OversizeHeaderGets431AndCloses) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  Request req = make_request(bhttp::verb::get, "/");
  req.set("X-Big", std::string(4000, 'x'));
  Response res = client.roundtrip(std::move(req));
  EXPECT_EQ(res.result_int(), 431u);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_NE(res.body().find("\"error\""), std::string::npos);
  EXPECT_EQ(client.read_until_closed(), asio::error::eof);
  EXPECT_EQ(server.stats().rejected.load(), 1u);
}

TEST(HttpServer, OversizeBodyGets413) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  Response res = client.roundtrip(make_request(bhttp::verb::post, "/", std::string(1000, 'b')));
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_NE(res.body().find("\"error\""), std::string::npos);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(client.read_until_closed(), asio::error::eof);
}

TEST(HttpServer, MalformedRequestGets400) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  ASSERT_FALSE(client.send_raw("THIS IS NOT HTTP\r\n\r\n"));
  Response res;
  ASSERT_FALSE(client.read(res));
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
}

TEST(HttpServer, HandlerExceptionGets500AndConnectionSurvives) {
  HttpServer server(small_config(), [](Request&& r) -> Response {
    if (r.target() == "/throw") throw std::runtime_error("boom");
    return echo(std::move(r));
  });
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  EXPECT_EQ(client.roundtrip(make_request(bhttp::verb::get, "/throw")).result_int(), 500u);
  EXPECT_EQ(client.roundtrip(make_request(bhttp::verb::get, "/ok")).result_int(), 200u);
}

TEST(HttpServer, IdleKeepAliveConnectionClosedAfterIdleTimeout) {
  ServerConfig config = small_config();
  config.idle_timeout = 50ms;
  HttpServer server(config, echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  EXPECT_EQ(client.roundtrip(make_request(bhttp::verb::get, "/")).result_int(), 200u);
  const beast::error_code ec = client.read_until_closed();
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_TRUE(wait_until([&] { return server.stats().idle_timeouts.load() == 1; }));
}

TEST(HttpServer, IncompleteRequestClosedAfterRequestTimeout) {
  ServerConfig config = small_config();
  config.request_timeout = 50ms;
  HttpServer server(config, echo);
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  ASSERT_FALSE(client.send_raw("GET / HTTP/1.1\r\nHost: x\r\n"));  // header never ends
  const beast::error_code ec = client.read_until_closed();
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_EQ(server.stats().idle_timeouts.load(), 0u);
}

TEST(HttpServer, StatsCountOpenedAndClosedConnections) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  for (int i = 0; i < 3; ++i) {
    TestClient client;
    ASSERT_FALSE(client.connect(server.port()));
    EXPECT_EQ(client.roundtrip(make_request(bhttp::verb::get, "/")).result_int(), 200u);
  }  // each client closes its socket here
  EXPECT_EQ(server.stats().opened.load(), 3u);
  EXPECT_TRUE(wait_until([&] { return server.stats().closed.load() == 3; }));
}

TEST(HttpServer, BindingABusyPortIsAnError) {
  HttpServer first(small_config(), echo);
  ASSERT_TRUE(first.start().ok());
  ServerConfig config = small_config();
  config.port = first.port();
  HttpServer second(config, echo);
  Status status = second.start();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.error().message.find(std::to_string(first.port())), std::string::npos);
}

TEST(HttpServer, StopFinishesInFlightRequestAndClosesIdleConnections) {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false;
  bool release = false;
  HttpServer server(small_config(), [&](Request&& r) {
    if (r.target() == "/slow") {
      std::unique_lock lock(mu);
      entered = true;
      cv.notify_all();
      cv.wait_for(lock, 5s, [&] { return release; });
    }
    return echo(std::move(r));
  });
  ASSERT_TRUE(server.start().ok());

  TestClient busy;
  ASSERT_FALSE(busy.connect(server.port()));
  Request slow = make_request(bhttp::verb::get, "/slow");
  ASSERT_FALSE(busy.send(slow));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return entered; }));
  }
  TestClient idle;
  ASSERT_FALSE(idle.connect(server.port()));
  ASSERT_TRUE(wait_until([&] { return server.stats().opened.load() == 2; }));

  server.stop();  // returns at once, with /slow still inside the handler
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();

  Response res;
  ASSERT_FALSE(busy.read(res));
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "/slow:");
  EXPECT_EQ(busy.read_until_closed(), asio::error::eof);
  EXPECT_EQ(idle.read_until_closed(), asio::error::eof);

  auto joined = std::async(std::launch::async, [&] { server.join(); });
  ASSERT_EQ(joined.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(server.stats().closed.load(), 2u);

  TestClient late;
  EXPECT_TRUE(late.connect(server.port()));  // no longer accepting
}

// Answers from a thread of its own, after the handler has returned.
class LaterThread {
 public:
  ~LaterThread() {
    for (auto& t : threads_) t.join();
  }
  void answer(Request&& request, Responder respond) {
    std::lock_guard lock(mu_);
    threads_.emplace_back(
        [r = std::move(request), respond]() mutable { respond(echo(std::move(r))); });
  }

 private:
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

TEST(HttpServer, AsyncHandlerAnswersFromAnotherThreadOnAKeptAliveConnection) {
  LaterThread later;
  HttpServer server(small_config(), AsyncHandler([&](Request&& r, Responder respond) {
                      later.answer(std::move(r), std::move(respond));
                    }));
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  for (int i = 0; i < 3; ++i) {
    Response res = client.roundtrip(make_request(bhttp::verb::get, "/n" + std::to_string(i)));
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "/n" + std::to_string(i) + ":");
  }
  EXPECT_EQ(server.stats().opened.load(), 1u);
}

TEST(HttpServer, OnlyTheFirstAnswerIsSentAndADroppedResponderGets500) {
  HttpServer server(small_config(), AsyncHandler([](Request&& r, Responder respond) {
                      if (r.target() == "/drop") return;  // every copy dies unanswered
                      Responder copy = respond;
                      respond(echo(std::move(r)));
                      Response second(bhttp::status::bad_request, 11);
                      copy(std::move(second));  // ignored
                    }));
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  EXPECT_EQ(client.roundtrip(make_request(bhttp::verb::get, "/drop")).result_int(), 500u);
  EXPECT_EQ(client.roundtrip(make_request(bhttp::verb::get, "/twice")).result_int(), 200u);
  EXPECT_EQ(client.roundtrip(make_request(bhttp::verb::get, "/after")).body(), "/after:");
}

TEST(HttpServer, JoinWaitsForAPendingAsyncAnswer) {
  std::promise<Responder> pending;
  auto pending_future = pending.get_future();
  HttpServer server(small_config(), AsyncHandler([&](Request&&, Responder respond) {
                      pending.set_value(respond);
                    }));
  ASSERT_TRUE(server.start().ok());
  TestClient client;
  ASSERT_FALSE(client.connect(server.port()));
  Request req = make_request(bhttp::verb::get, "/later");
  ASSERT_FALSE(client.send(req));
  Responder respond = pending_future.get();
  server.stop();
  std::thread answer([&] {
    Response res(bhttp::status::ok, 11);
    res.body() = "late";
    respond(std::move(res));
  });
  Response res;
  ASSERT_FALSE(client.read(res));  // the network threads were still there to send it
  EXPECT_EQ(res.body(), "late");
  answer.join();
  server.join();
}

// ---- RFC 9112 strictness: Host (section 3.2) and Transfer-Encoding (6.1, 6.3).

// Sends `raw` on a new connection and reads one response.
Response raw_exchange(const HttpServer& server, const std::string& raw) {
  TestClient client;
  EXPECT_FALSE(client.connect(server.port()));
  EXPECT_FALSE(client.send_raw(raw));
  Response res;
  const beast::error_code ec = client.read(res);
  EXPECT_FALSE(ec) << "read: " << ec.message();
  return res;
}

TEST(HttpServer, Http11RequestWithoutHostGets400) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  const Response res = raw_exchange(server, "GET /nohost HTTP/1.1\r\n\r\n");
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(res[bhttp::field::content_type], "application/json");
  EXPECT_NE(res.body().find("Host"), std::string::npos) << res.body();
  EXPECT_EQ(server.stats().requests.load(), 0u);  // never reached the handler
}

TEST(HttpServer, RequestWithTwoHostHeadersGets400) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  EXPECT_EQ(raw_exchange(server, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").result_int(),
            400u);
  EXPECT_EQ(raw_exchange(server, "GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n").result_int(),
            400u);
}

TEST(HttpServer, HostWithAnInvalidValueGets400) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  EXPECT_EQ(raw_exchange(server, "GET / HTTP/1.1\r\nHost: a b\r\n\r\n").result_int(), 400u);
  EXPECT_EQ(raw_exchange(server, "GET / HTTP/1.1\r\nHost: u@h\r\n\r\n").result_int(), 400u);
}

TEST(HttpServer, OneHostOrAnHttp10RequestWithoutHostIsServed) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  EXPECT_EQ(raw_exchange(server, "GET /a HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").body(), "/a:");
  EXPECT_EQ(raw_exchange(server, "GET /b HTTP/1.1\r\nHost:\r\n\r\n").body(),
            "/b:");  // empty: allowed
  EXPECT_EQ(raw_exchange(server, "GET /c HTTP/1.0\r\n\r\n").body(), "/c:");
}

TEST(HttpServer, ChunkedRequestBodyIsDecoded) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  const Response res = raw_exchange(
      server,
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "/c:abc");
}

TEST(HttpServer, TransferCodingOtherThanChunkedGets501) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  for (const std::string te : {"Transfer-Encoding: gzip, chunked\r\n",
                               "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"}) {
    const Response res =
        raw_exchange(server, "POST /z HTTP/1.1\r\nHost: x\r\n" + te + "\r\n3\r\nabc\r\n0\r\n\r\n");
    EXPECT_EQ(res.result_int(), 501u) << te;
    EXPECT_NE(res.body().find("gzip"), std::string::npos) << res.body();
    EXPECT_FALSE(res.keep_alive());
  }
  EXPECT_EQ(server.stats().requests.load(), 0u);
}

TEST(HttpServer, TransferEncodingNotEndingInChunkedGets400) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  // The length of these bodies cannot be determined: reading them as empty
  // would parse the body as a second request.
  for (const std::string te : {"chunked, gzip", "gzip", "chunked, chunked", "identity", ","}) {
    const Response res =
        raw_exchange(server, "POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + te +
                                 "\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n");
    EXPECT_EQ(res.result_int(), 400u) << te;
    EXPECT_FALSE(res.keep_alive()) << te;
  }
  EXPECT_EQ(server.stats().requests.load(), 0u);
}

TEST(HttpServer, TransferEncodingInAnHttp10RequestGets400) {
  HttpServer server(small_config(), echo);
  ASSERT_TRUE(server.start().ok());
  EXPECT_EQ(
      raw_exchange(server,
                   "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
          .result_int(),
      400u);
}

}  // namespace
}  // namespace servelab::http
