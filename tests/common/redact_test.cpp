// URLs and header names as they are shown in results, reports and on the
// console (common/redact.h, common/headers.h).
#include "common/redact.h"

#include <gtest/gtest.h>

#include "common/headers.h"

namespace servelab {
namespace {

TEST(RedactUrl, ReplacesUserinfo) {
  EXPECT_EQ(redact_url("http://user:pw@host:8080/x"), "http://***@host:8080/x");
  EXPECT_EQ(redact_url("https://token@host"), "https://***@host");
  EXPECT_EQ(redact_url("http://u:p@ss@host/"), "http://***@host/");  // last '@' ends it
}

TEST(RedactUrl, ReplacesSecretQueryValues) {
  EXPECT_EQ(redact_url("http://h/x?token=abc&a=1&api_key=k#f"),
            "http://h/x?token=***&a=1&api_key=***#f");
  EXPECT_EQ(redact_url("/v1?access_token=a&apikey=b&key=c&secret=d&password=e&sig=f"),
            "/v1?access_token=***&apikey=***&key=***&secret=***&password=***&sig=***");
  EXPECT_EQ(redact_url("/s3?X-Amz-Signature=zz&X-Amz-Date=1"),
            "/s3?X-Amz-Signature=***&X-Amz-Date=1");
  EXPECT_EQ(redact_url("/x?AUTH=1"), "/x?AUTH=***");
}

TEST(RedactUrl, LeavesPlainUrlsAlone) {
  for (const char* url :
       {"http://127.0.0.1:8000", "/v2/models/mlp-0/infer", "/x?page=2&sort=a", "embedded", ""})
    EXPECT_EQ(redact_url(url), url);
}

TEST(RedactText, RedactsEveryUrlInText) {
  EXPECT_EQ(redact_text("GET http://a:b@h/x?token=t: connection refused"),
            "GET http://***@h/x?token=***: connection refused");
  EXPECT_EQ(redact_text("http GET /x?key=1"), "http GET /x?key=***");
  EXPECT_EQ(redact_text("target=http://u:p@h"), "target=http://***@h");
  EXPECT_EQ(redact_text("no urls here"), "no urls here");
}

TEST(SecretHeader, CoversNamedAndPatternNames) {
  for (const char* name :
       {"Authorization", "proxy-authorization", "Cookie", "Set-Cookie", "X-Api-Key", "api-key",
        "X-Auth-Token", "x-goog-api-key", "Ocp-Apim-Subscription-Key", "X-Client-Secret",
        "X-Password", "X-Session-Id"})
    EXPECT_TRUE(is_secret_header(name)) << name;
  for (const char* name : {"Accept", "Content-Type", "User-Agent", "Keep-Alive", "X-Request-Id"})
    EXPECT_FALSE(is_secret_header(name)) << name;
}

}  // namespace
}  // namespace servelab
