// SCRAM-SHA-256 against the RFC 7677 example and against secrets computed by PostgreSQL 15;
// MD5 against PostgreSQL's stored hash; ErrorResponse helpers.
#include "pgwire/scram.h"

#include <gtest/gtest.h>

#include <string>

#include "pgwire/errors.h"
#include "pgwire/wire_bytes.h"

namespace writegate::pgwire {
namespace {

using namespace testing;  // NOLINT: byte builders

// RFC 7677 section 3.
constexpr std::string_view kRfcClientNonce = "rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr std::string_view kRfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr std::string_view kRfcServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr std::string_view kRfcClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr std::string_view kRfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

// Computed by PostgreSQL 15 (CREATE ROLE r1 PASSWORD 'pencil' with
// password_encryption = scram-sha-256, then SELECT rolpassword FROM pg_authid).
constexpr std::string_view kPgSecretPencil =
    "SCRAM-SHA-256$4096:q1UJUs/KQkTR9pvdtF6tww==$+VWU7GylZSYowyyf6GXQmsLai7urbTJ5uZKMHVMH/3s=:"
    "x5C3FPZ8o0DujCMZIRfMjXBrdfVOU5hbxxBGUR7EpZY=";
constexpr std::string_view kPgSecretStaple =
    "SCRAM-SHA-256$4096:zaB++wStXlMth0WZiEpoGQ==$EwmK8bGO0sP8vyOaNOArcfszjKBGa5O6w8vKf6YOvfI=:"
    "jN/3gF8R7pUxWaDFdGz/VfojZ1AO/ma2GJOBfUim19g=";

ScramClientOptions rfc_options() {
  ScramClientOptions o;
  o.username = "user";
  o.client_nonce = std::string(kRfcClientNonce);
  return o;
}

TEST(ScramClient, Rfc7677Example) {
  auto client = ScramClient::create("pencil", rfc_options());
  ASSERT_TRUE(client.ok()) << client.error().to_string();
  EXPECT_EQ(client->mechanism(), "SCRAM-SHA-256");
  EXPECT_EQ(client->client_first_message(), kRfcClientFirst);
  auto final_message = client->handle_server_first(kRfcServerFirst);
  ASSERT_TRUE(final_message.ok()) << final_message.error().to_string();
  EXPECT_EQ(*final_message, kRfcClientFinal);
  EXPECT_FALSE(client->authenticated());
  ASSERT_TRUE(client->verify_server_final(kRfcServerFinal).ok());
  EXPECT_TRUE(client->authenticated());
}

TEST(ScramClient, WrongServerSignatureIsRefused) {
  auto client = ScramClient::create("pencil", rfc_options());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->handle_server_first(kRfcServerFirst).ok());
  Status s = client->verify_server_final("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(s.error().message(),
            "SCRAM: the server signature is wrong (the server does not know the password)");
  EXPECT_FALSE(client->authenticated());
}

TEST(ScramClient, AServerComputingWithAnotherPasswordIsCaught) {
  auto client = ScramClient::create("pencil", rfc_options());
  ASSERT_TRUE(client.ok());
  auto secret = make_scram_secret("crayon", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  ASSERT_TRUE(secret.ok());
  auto server = ScramServer::create(*secret, std::string(kRfcServerNonce));
  ASSERT_TRUE(server.ok());
  auto server_first = server->handle_client_first(client->client_first_message());
  ASSERT_TRUE(server_first.ok());
  auto client_final = client->handle_server_first(*server_first);
  ASSERT_TRUE(client_final.ok());
  auto server_final = server->handle_client_final(*client_final);
  ASSERT_FALSE(server_final.ok());
  EXPECT_EQ(server_final.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(server_final.error().message(), "SCRAM: wrong password");
}

TEST(ScramClient, ServerErrorIsReported) {
  auto client = ScramClient::create("pencil", rfc_options());
  ASSERT_TRUE(client.ok());
  ASSERT_TRUE(client->handle_server_first(kRfcServerFirst).ok());
  Status s = client->verify_server_final("e=invalid-proof");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code(), ErrorCode::kUnauthenticated);
  EXPECT_EQ(s.error().message(), "SCRAM: the server reports an error: invalid-proof");
}

TEST(ScramClient, MalformedServerFirstMessages) {
  struct C {
    std::string server_first;
    ErrorCode code;
    std::string message;
  } cases[] = {
      {"r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", ErrorCode::kInvalidArgument,
       "SCRAM: the server nonce does not extend the client nonce"},
      {"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", ErrorCode::kInvalidArgument,
       "SCRAM: the server nonce does not extend the client nonce"},
      {"r=rOprNGfwEbeRWgbNEkqOx,s=***,i=4096", ErrorCode::kInvalidArgument, "SCRAM: invalid salt"},
      {"r=rOprNGfwEbeRWgbNEkqOx,s=,i=4096", ErrorCode::kInvalidArgument, "SCRAM: invalid salt"},
      {"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0", ErrorCode::kInvalidArgument,
       "SCRAM: invalid iteration count"},
      {"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1", ErrorCode::kInvalidArgument,
       "SCRAM: invalid iteration count"},
      {"r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2000000000", ErrorCode::kOutOfRange,
       "SCRAM: the server asks for 2000000000 iterations, more than the limit of 100000"},
      {"s=W22ZaJ0SNY7soEsUEjb6gQ==,r=rOprNGfwEbeRWgbNEkqOx,i=4096", ErrorCode::kInvalidArgument,
       "SCRAM: the server-first-message must start with r=, s= and i= attributes"},
      {"m=ext,r=rOprNGfwEbeRWgbNEkqOx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
       ErrorCode::kInvalidArgument, "SCRAM: the server requires an unsupported extension"},
      {"garbage", ErrorCode::kInvalidArgument,
       "SCRAM: malformed attribute in the server-first-message"},
      {"", ErrorCode::kInvalidArgument, "SCRAM: malformed attribute in the server-first-message"},
  };
  for (const C& c : cases) {
    SCOPED_TRACE(c.server_first);
    auto client = ScramClient::create("pencil", rfc_options());
    ASSERT_TRUE(client.ok());
    auto r = client->handle_server_first(c.server_first);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), c.code);
    EXPECT_EQ(r.error().message(), c.message);
    // A failed exchange cannot be continued.
    Status s = client->verify_server_final(kRfcServerFinal);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().code(), ErrorCode::kFailedPrecondition);
  }
}

TEST(ScramClient, OutOfOrderCalls) {
  auto client = ScramClient::create("pencil", rfc_options());
  ASSERT_TRUE(client.ok());
  Status early = client->verify_server_final(kRfcServerFinal);
  ASSERT_FALSE(early.ok());
  EXPECT_EQ(early.error().message(), "SCRAM: server-final-message received out of order");
  ASSERT_TRUE(client->handle_server_first(kRfcServerFirst).ok());
  auto twice = client->handle_server_first(kRfcServerFirst);
  ASSERT_FALSE(twice.ok());
  EXPECT_EQ(twice.error().message(), "SCRAM: server-first-message received out of order");
}

TEST(ScramClient, NonAsciiPasswordsAreRefusedClearly) {
  auto client = ScramClient::create("p\xc3\xa4ss");
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().message(),
            "SCRAM: the password contains non-ASCII characters, whose SASLprep normalization is "
            "not implemented; use an ASCII password");
}

TEST(ScramClient, RandomNoncesAndPostgresDefaults) {
  auto a = ScramClient::create("pw");
  auto b = ScramClient::create("pw");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(a->client_first_message().starts_with("n,,n=,r="));
  EXPECT_EQ(a->client_first_message().size(), std::string("n,,n=,r=").size() + 24);
  EXPECT_NE(a->client_first_message(), b->client_first_message());
}

TEST(ScramClient, ChannelBindingHeaders) {
  ScramClientOptions y;
  y.client_nonce = "abc";
  y.channel_binding = ChannelBinding::kSupportedNotUsed;
  auto cy = ScramClient::create("pw", y);
  ASSERT_TRUE(cy.ok());
  EXPECT_EQ(cy->client_first_message(), "y,,n=,r=abc");
  EXPECT_EQ(cy->mechanism(), "SCRAM-SHA-256");

  ScramClientOptions p;
  p.client_nonce = "abc";
  p.channel_binding = ChannelBinding::kTlsServerEndPoint;
  auto missing = ScramClient::create("pw", p);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(),
            "SCRAM: tls-server-end-point channel binding needs the server certificate hash");
  p.channel_binding_data = "\x01\x02\x03";
  auto cp = ScramClient::create("pw", p);
  ASSERT_TRUE(cp.ok());
  EXPECT_EQ(cp->mechanism(), "SCRAM-SHA-256-PLUS");
  EXPECT_EQ(cp->client_first_message(), "p=tls-server-end-point,,n=,r=abc");
  auto fin = cp->handle_server_first("r=abcdef,s=c2FsdA==,i=1");
  ASSERT_TRUE(fin.ok());
  // c= carries the gs2 header followed by the certificate hash.
  EXPECT_TRUE(fin->starts_with("c=" + base64_encode("p=tls-server-end-point,,\x01\x02\x03") +
                               ",r=abcdef,p="));
}

TEST(ScramClient, UsernamesAreEscaped) {
  ScramClientOptions o;
  o.username = "a,b=c";
  o.client_nonce = "n";
  auto c = ScramClient::create("pw", o);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->client_first_message(), "n,,n=a=2Cb=3Dc,r=n");
}

// ---- Server side and PostgreSQL's secrets -----------------------------------------------------

TEST(ScramServer, Rfc7677Example) {
  auto secret = make_scram_secret("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
  ASSERT_TRUE(secret.ok());
  auto server = ScramServer::create(*secret, std::string(kRfcServerNonce));
  ASSERT_TRUE(server.ok());
  auto first = server->handle_client_first(kRfcClientFirst);
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  EXPECT_EQ(*first, kRfcServerFirst);
  auto final_message = server->handle_client_final(kRfcClientFinal);
  ASSERT_TRUE(final_message.ok()) << final_message.error().to_string();
  EXPECT_EQ(*final_message, kRfcServerFinal);
  EXPECT_TRUE(server->authenticated());
}

TEST(ScramServer, RefusesWhatItCannotDo) {
  auto secret = make_scram_secret("pencil", "salt", 4096);
  ASSERT_TRUE(secret.ok());
  struct C {
    std::string client_first;
    std::string message;
  } cases[] = {
      {"p=tls-server-end-point,,n=,r=abc",
       "SCRAM: the client requires channel binding, which was not offered"},
      {"n,a=admin,n=,r=abc", "SCRAM: authorization identities are not supported"},
      {"x,,n=,r=abc", "SCRAM: malformed gs2 header in the client-first-message"},
      {"n,,r=abc", "SCRAM: the client-first-message must hold n= and r="},
      {"n,,m=x,n=,r=abc", "SCRAM: the client requires an unsupported extension"},
  };
  for (const C& c : cases) {
    auto server = ScramServer::create(*secret);
    ASSERT_TRUE(server.ok());
    auto r = server->handle_client_first(c.client_first);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().message(), c.message);
  }
  auto server = ScramServer::create(*secret, "srv");
  ASSERT_TRUE(server.ok());
  ASSERT_TRUE(server->handle_client_first("n,,n=,r=abc").ok());
  auto bad_cbind =
      server->handle_client_final("c=eSws,r=abcsrv,p=" + base64_encode(std::string(32, 'x')));
  ASSERT_FALSE(bad_cbind.ok());
  EXPECT_EQ(bad_cbind.error().message(),
            "SCRAM: the channel binding does not match the gs2 header");
}

TEST(ScramSecrets, MatchPostgresComputedSecrets) {
  struct C {
    std::string_view pg_secret;
    std::string password;
  } cases[] = {{kPgSecretPencil, "pencil"}, {kPgSecretStaple, "correct horse battery staple"}};
  for (const C& c : cases) {
    auto parsed = parse_scram_secret(c.pg_secret);
    ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
    EXPECT_EQ(parsed->iterations, 4096u);
    EXPECT_EQ(parsed->salt.size(), 16u);
    auto derived = make_scram_secret(c.password, parsed->salt, parsed->iterations);
    ASSERT_TRUE(derived.ok());
    EXPECT_EQ(*derived, *parsed);
    EXPECT_EQ(format_scram_secret(*derived), c.pg_secret);

    // A full exchange: our client against a server holding PostgreSQL's secret.
    auto server = ScramServer::create(*parsed);
    auto client = ScramClient::create(c.password);
    ASSERT_TRUE(server.ok() && client.ok());
    auto server_first = server->handle_client_first(client->client_first_message());
    ASSERT_TRUE(server_first.ok());
    auto client_final = client->handle_server_first(*server_first);
    ASSERT_TRUE(client_final.ok());
    auto server_final = server->handle_client_final(*client_final);
    ASSERT_TRUE(server_final.ok()) << server_final.error().to_string();
    ASSERT_TRUE(client->verify_server_final(*server_final).ok());
    EXPECT_TRUE(client->authenticated());
  }
  auto wrong = make_scram_secret("Pencil", parse_scram_secret(kPgSecretPencil)->salt, 4096);
  ASSERT_TRUE(wrong.ok());
  EXPECT_NE(format_scram_secret(*wrong), kPgSecretPencil);
}

TEST(ScramSecrets, MalformedSecrets) {
  for (std::string_view s : {"md5abc", "SCRAM-SHA-256$4096:c2FsdA==$AAAA:AAAA",
                             "SCRAM-SHA-256$x:c2FsdA==$"
                             "",
                             "SCRAM-SHA-256$4096"}) {
    auto r = parse_scram_secret(s);
    ASSERT_FALSE(r.ok()) << s;
    EXPECT_EQ(r.error().message(),
              "not a SCRAM-SHA-256 secret (expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:"
              "<ServerKey>)");
  }
}

TEST(Base64, StrictDecoding) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(*base64_decode("Zg=="), "f");
  EXPECT_EQ(base64_decode("Zg=").error().message(),
            "invalid base64: length is not a multiple of 4");
  EXPECT_EQ(base64_decode("Z===").error().message(), "invalid base64: unexpected character");
  EXPECT_EQ(base64_decode("Zg==Zg==").error().message(), "invalid base64: unexpected character");
  EXPECT_EQ(base64_decode("Zg=a").error().message(), "invalid base64: misplaced padding");
  EXPECT_EQ(base64_decode("Zm9*").error().message(), "invalid base64: unexpected character");
}

// ---- MD5 --------------------------------------------------------------------------------------

TEST(Md5Password, MatchesPostgres) {
  // PostgreSQL 15 stored "md5e439e30ebcd491de469f6bb1ae4ce689" for user r3, password
  // "postgres"; the answer to salt 01 02 03 04 is md5(<that hex> + salt).
  auto r = md5_password_response("r3", "postgres", "\x01\x02\x03\x04");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "md5bb05ea81c404f2f0fa2599e021fb21f1");
  auto bad = md5_password_response("r3", "postgres", "abc");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "MD5 salt must be 4 bytes");
}

// ---- Error helpers ----------------------------------------------------------------------------

TEST(ErrorHelpers, TheRdsProxyTlsRefusal) {
  auto bytes = error_response_bytes(Severity::kFatal, sqlstate::kInvalidAuthorizationSpecification,
                                    "This RDS Proxy requires TLS connections.");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, typed('E', "S" + cstr("FATAL") + "V" + cstr("FATAL") + "C" + cstr("28000") +
                                   "M" + cstr("This RDS Proxy requires TLS connections.") + '\0'));
  ErrorResponse e = make_error_response(Severity::kFatal, sqlstate::kInvalidPassword,
                                        "password authentication failed", "detail", "hint");
  EXPECT_EQ(e.severity(), "FATAL");
  EXPECT_EQ(e.sqlstate(), "28P01");
  EXPECT_EQ(e.message(), "password authentication failed");
  EXPECT_EQ(e.get(field::kDetail).value_or(""), "detail");
  EXPECT_EQ(e.get(field::kHint).value_or(""), "hint");
  EXPECT_FALSE(e.get(field::kPosition).has_value());
  NoticeResponse n = make_notice_response(Severity::kWarning, "01000", "careful");
  EXPECT_EQ(n.severity(), "WARNING");
}

TEST(ErrorHelpers, InvalidSqlstateAndNulInMessage) {
  auto bad = error_response_bytes(Severity::kError, "2800", "x");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(),
            "invalid SQLSTATE \"2800\" (expected 5 characters of 0-9 and A-Z)");
  EXPECT_FALSE(is_valid_sqlstate("28p01"));
  EXPECT_TRUE(is_valid_sqlstate("28P01"));
  auto nul = error_response_bytes(Severity::kError, "XX000", std::string("a\0b", 3));
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.error().message(), "ErrorResponse: field 'M' contains a NUL byte");
}

}  // namespace
}  // namespace writegate::pgwire
