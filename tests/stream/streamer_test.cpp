// Streamer over a fake BodyWriter whose writes complete when the test says:
// backpressure, flush policy, failure and gzip, without sockets or timing.

#include "stream/streamer.h"

#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <string>

#include "stream/gzip.h"

namespace servelab::stream {
namespace {

class FakeWriter : public http::BodyWriter {
 public:
  void write(std::span<const char> data, bool last, Done done) override {
    std::lock_guard lock(mu_);
    writes_.push_back({std::string(data.data(), data.size()), last, std::move(done)});
  }
  void abort() override {
    std::lock_guard lock(mu_);
    aborted_ = true;
  }
  // Completes the oldest write in flight; false when there is none.
  bool complete(bool ok = true) {
    Write w;
    {
      std::lock_guard lock(mu_);
      if (writes_.empty()) return false;
      w = std::move(writes_.front());
      writes_.pop_front();
      if (ok) {
        received_ += w.data;
        ++chunks_;
        ended_ = ended_ || w.last;
      }
    }
    w.done(ok);
    return true;
  }
  void drain() {
    for (int i = 0; i < 100000 && complete(); ++i) {
    }
  }
  // What a closing connection does: every write still in flight fails. Each
  // holds its Streamer (the callback's shared_ptr), which holds this writer,
  // so a test that ends with a write in flight ends with this call.
  void close() {
    for (int i = 0; i < 100000 && complete(false); ++i) {
    }
  }
  size_t in_flight() {
    std::lock_guard lock(mu_);
    return writes_.size();
  }
  std::string front_data() {
    std::lock_guard lock(mu_);
    return writes_.empty() ? std::string() : writes_.front().data;
  }
  std::string received() {
    std::lock_guard lock(mu_);
    return received_;
  }
  bool ended() {
    std::lock_guard lock(mu_);
    return ended_;
  }
  bool aborted() {
    std::lock_guard lock(mu_);
    return aborted_;
  }
  int chunks() {
    std::lock_guard lock(mu_);
    return chunks_;
  }

 private:
  struct Write {
    std::string data;
    bool last = false;
    Done done;
  };
  std::mutex mu_;
  std::deque<Write> writes_;
  std::string received_;
  int chunks_ = 0;
  bool ended_ = false;
  bool aborted_ = false;
};

TEST(Streamer, PerEventSendsAWriteAtOnceWhenTheSocketIsFree) {
  auto w = std::make_shared<FakeWriter>();
  auto s = Streamer::create(w, {});
  EXPECT_TRUE(s->write("a"));
  EXPECT_EQ(w->in_flight(), 1u);
  EXPECT_EQ(w->front_data(), "a");
  w->complete();
  EXPECT_TRUE(s->write("b"));
  EXPECT_EQ(w->front_data(), "b");
  w->close();
}

TEST(Streamer, WritesDuringAWriteGatherIntoTheNextChunk) {
  auto w = std::make_shared<FakeWriter>();
  auto s = Streamer::create(w, {});
  s->write("a");
  s->write("b");
  s->write("c");
  EXPECT_EQ(w->in_flight(), 1u);  // one write at a time
  w->complete();
  EXPECT_EQ(w->front_data(), "bc");
  w->complete();
  EXPECT_EQ(w->received(), "abc");
  EXPECT_EQ(w->chunks(), 2);
}

TEST(Streamer, ASlowReaderPausesTheProducerAtTheBufferBound) {
  auto w = std::make_shared<FakeWriter>();
  StreamConfig cfg;
  cfg.buffer_limit = 1024;
  StreamMetrics metrics;
  auto s = Streamer::create(w, cfg, &metrics);
  int resumed = 0;
  s->on_resume([&] { ++resumed; });
  const std::string event(100, 'x');
  int accepted = 0;
  while (s->write(event) && accepted < 1000) ++accepted;  // the reader never reads
  EXPECT_LT(accepted, 11);  // paused near 1024 bytes, not after 1000 events
  EXPECT_LE(s->peak_held_bytes(), cfg.buffer_limit + event.size());
  EXPECT_EQ(s->backpressure_events(), 1u);
  EXPECT_EQ(metrics.backpressure_events.load(), 1u);
  EXPECT_EQ(resumed, 0);
  w->complete();  // the socket drains what was in flight
  w->complete();  // and what had gathered
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(s->held_bytes(), 0u);
  EXPECT_TRUE(s->write(event));  // producing again
  w->close();
}

TEST(Streamer, FinishSendsTheLastChunkAndReportsDone) {
  auto w = std::make_shared<FakeWriter>();
  auto s = Streamer::create(w, {});
  s->write("one ");
  s->write("two");
  int done = 0;
  bool done_ok = false;
  s->finish([&](bool ok) {
    ++done;
    done_ok = ok;
  });
  EXPECT_EQ(done, 0);
  w->drain();
  EXPECT_EQ(done, 1);
  EXPECT_TRUE(done_ok);
  EXPECT_TRUE(w->ended());
  EXPECT_EQ(w->received(), "one two");
  EXPECT_FALSE(s->write("late"));
}

TEST(Streamer, AFailedConnectionStopsAndWakesAPausedProducer) {
  auto w = std::make_shared<FakeWriter>();
  StreamConfig cfg;
  cfg.buffer_limit = 256;
  StreamMetrics metrics;
  auto s = Streamer::create(w, cfg, &metrics);
  int resumed = 0;
  s->on_resume([&] { ++resumed; });
  while (s->write(std::string(100, 'y'))) {
  }
  w->complete(/*ok=*/false);  // the client went away
  EXPECT_EQ(resumed, 1);      // the paused producer learns it
  EXPECT_TRUE(s->failed());
  EXPECT_FALSE(s->write("z"));
  EXPECT_EQ(metrics.failed.load(), 1u);
  bool finished_ok = true;
  s->finish([&](bool ok) { finished_ok = ok; });
  EXPECT_FALSE(finished_ok);
}

TEST(Streamer, AWriteThatMeetsAFailedStreamStillWakesTheProducer) {
  // The failure lands between the producer's failed() check and its write:
  // the false it gets must be followed by a resume, or it would wait forever.
  auto w = std::make_shared<FakeWriter>();
  auto s = Streamer::create(w, {});
  int resumed = 0;
  s->on_resume([&] { ++resumed; });
  EXPECT_TRUE(s->write("a"));
  w->complete(/*ok=*/false);
  EXPECT_EQ(resumed, 0);  // it was not paused
  EXPECT_FALSE(s->write("b"));
  EXPECT_EQ(resumed, 1);
}

TEST(Streamer, CoalesceWaitsForMaxBytes) {
  auto w = std::make_shared<FakeWriter>();
  StreamConfig cfg;
  cfg.flush.mode = FlushPolicy::Mode::coalesce;
  cfg.flush.max_bytes = 50;
  cfg.flush.max_delay = std::chrono::hours(1);
  auto s = Streamer::create(w, cfg);
  for (int i = 0; i < 4; ++i) s->write("0123456789");
  EXPECT_EQ(w->in_flight(), 0u);  // 40 bytes wait
  s->write("0123456789");
  EXPECT_EQ(w->in_flight(), 1u);  // 50: one chunk
  EXPECT_EQ(w->front_data().size(), 50u);
  w->complete();
  s->write("tail");
  EXPECT_EQ(w->in_flight(), 0u);
  s->flush();
  EXPECT_EQ(w->front_data(), "tail");
  w->close();
}

TEST(Streamer, CoalesceFlushesWhatIsOlderThanMaxDelay) {
  auto w = std::make_shared<FakeWriter>();
  StreamConfig cfg;
  cfg.flush.mode = FlushPolicy::Mode::coalesce;
  cfg.flush.max_bytes = 1 << 20;
  cfg.flush.max_delay = std::chrono::microseconds(0);
  auto s = Streamer::create(w, cfg);
  s->write("a");
  EXPECT_EQ(w->in_flight(), 1u);
  w->close();
}

TEST(Streamer, AbortTruncatesTheBody) {
  auto w = std::make_shared<FakeWriter>();
  auto s = Streamer::create(w, {});
  s->write("a");
  s->abort();
  EXPECT_TRUE(w->aborted());
  EXPECT_TRUE(s->failed());
  w->close();
}

// Shutdown aborts paused streams from another thread: the producer must hear
// of it even when the write in flight then completes ok.
TEST(Streamer, AbortResumesAPausedProducerEvenIfTheWriteInFlightSucceeds) {
  auto w = std::make_shared<FakeWriter>();
  StreamConfig cfg;
  cfg.buffer_limit = 256;
  auto s = Streamer::create(w, cfg);
  int resumed = 0;
  s->on_resume([&] { ++resumed; });
  const std::string event(100, 'x');
  for (int i = 0; i < 100 && s->write(event); ++i) {
  }
  ASSERT_EQ(s->backpressure_events(), 1u);  // paused
  s->abort();
  EXPECT_EQ(resumed, 1);
  EXPECT_TRUE(s->failed());
  w->complete(true);  // the write in flight still went out
  EXPECT_EQ(resumed, 1);
  EXPECT_FALSE(s->write(event));
  w->close();
}

TEST(Streamer, GzipStreamRoundTripsAndCountsItsRatio) {
  auto w = std::make_shared<FakeWriter>();
  StreamConfig cfg;
  cfg.gzip = true;
  StreamMetrics metrics;
  std::string all;
  {
    auto s = Streamer::create(w, cfg, &metrics);
    for (int i = 0; i < 200; ++i) {
      const std::string e =
          "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"choices\":[{\"text\":\"" +
          std::string(1, static_cast<char>('a' + i % 26)) + "\"}]}\n\n";
      all += e;
      s->write(e);
      w->complete();  // a fast reader: one chunk per event
    }
    s->finish();
    w->drain();
    EXPECT_TRUE(s->gzip());
  }
  const auto plain = gunzip(w->received());
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain, all);
  EXPECT_EQ(metrics.gzip_in_bytes.load(), all.size());
  EXPECT_EQ(metrics.gzip_out_bytes.load(), w->received().size());
  EXPECT_LT(w->received().size(),
            all.size() / 3);  // repetitive events compress even when flushed per event
}

TEST(Streamer, GzipOfIncompressibleBytesTurnsCompressionOff) {
  auto w = std::make_shared<FakeWriter>();
  StreamConfig cfg;
  cfg.gzip = true;
  cfg.gzip_probe_bytes = 1024;
  std::string all;
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 64 * 1024; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    all += static_cast<char>(x);
  }
  {
    auto s = Streamer::create(w, cfg);
    for (size_t i = 0; i < all.size(); i += 512) {
      s->write(std::string_view(all).substr(i, 512));
      w->drain();
    }
    s->finish();
    w->drain();
  }
  const auto plain = gunzip(w->received());
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(*plain, all);
  // Stored blocks: the output is the input plus framing, not much more.
  EXPECT_LT(w->received().size(), all.size() + all.size() / 20);
}

TEST(Gzip, WholeBodyIsCompressedOnlyWhenWorthIt) {
  const std::string text(4000, 'a');
  auto gz = gzip_if_worth(text, 1024, 0.2);
  ASSERT_TRUE(gz.has_value());
  EXPECT_LT(gz->size(), 200u);
  EXPECT_EQ(gunzip(*gz), text);
  EXPECT_FALSE(gzip_if_worth(std::string(1000, 'a'), 1024, 0.2).has_value());  // too small
  std::string noise;
  uint64_t x = 88172645463325252ULL;  // xorshift64: incompressible bytes
  for (int i = 0; i < 4000; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    noise += static_cast<char>(x >> 32);
  }
  EXPECT_FALSE(gzip_if_worth(noise, 1024, 0.2).has_value());  // poor ratio
}

TEST(Gzip, AcceptEncodingParsing) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("deflate, gzip;q=1.0, *;q=0.5"));
  EXPECT_TRUE(accepts_gzip("br, GZIP"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("br, deflate"));
}

TEST(Gzip, CorruptInputIsRejected) {
  EXPECT_FALSE(gunzip("not gzip at all").has_value());
  auto gz = gzip_if_worth(std::string(4000, 'b'), 10, 0.2);
  ASSERT_TRUE(gz.has_value());
  EXPECT_FALSE(gunzip(gz->substr(0, gz->size() / 2)).has_value());  // truncated
}

}  // namespace
}  // namespace servelab::stream
