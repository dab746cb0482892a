#include "proxy/authenticator.h"

#include "iam/arn.h"
#include "iam/evaluator.h"

namespace writegate::proxy {

namespace {

// The IAM store seen through the SigV4 verifier's KeyResolver interface. It keeps the identity
// it found, so the decision that follows uses that one, without a second look-up (and its copy
// of the principal's policies). One login's object: never shared between threads.
class StoreKeys final : public sigv4::KeyResolver {
 public:
  explicit StoreKeys(const iam::IamStore& store) : store_(store) {}
  Result<sigv4::ResolvedKey> resolve(std::string_view access_key_id,
                                     sigv4::TimePoint now) const override {
    // Expired sessions resolve too: the verifier then reports "session_expired" itself.
    (void)now;
    WG_ASSIGN_OR_RETURN(iam::KeyIdentity identity,
                        store_.find_access_key_ignoring_expiry(access_key_id));
    sigv4::ResolvedKey key;
    key.secret_access_key = identity.secret_access_key;
    if (!identity.session_token.empty()) key.session_token = identity.session_token;
    key.expires = identity.expiration;
    key.principal_arn = identity.principal.arn;
    found_ = std::move(identity);
    return key;
  }
  std::optional<iam::KeyIdentity>& found() const { return found_; }

 private:
  const iam::IamStore& store_;
  mutable std::optional<iam::KeyIdentity> found_;
};

}  // namespace

IamAuthenticator::IamAuthenticator(iam::IamStore& store, Options options)
    : store_(store),
      options_(std::move(options)),
      verify_options_{.endpoint_hosts = options_.endpoint_hosts,
                      .port = options_.port,
                      .region = options_.region} {}

IamAuthenticator::~IamAuthenticator() = default;

std::string IamAuthenticator::dbuser_arn(std::string_view user) const {
  return iam::rds_db_user_arn(options_.region, options_.account_id, options_.resource_id, user);
}

AuthOutcome IamAuthenticator::authenticate(std::string_view token, std::string_view user,
                                           std::chrono::system_clock::time_point now) {
  if (auto reloaded = store_.reload_if_changed(); !reloaded) {
    return AuthOutcome{.ok = false,
                       .reason = "store_unavailable",
                       .detail = reloaded.error().message(),
                       .principal_arn = {}};
  }
  return decide(token, user, now);
}

std::optional<AuthOutcome> IamAuthenticator::authenticate_if_current(
    std::string_view token, std::string_view user, std::chrono::system_clock::time_point now) {
  auto changed = store_.changed_on_disk();
  if (!changed) {
    return AuthOutcome{.ok = false,
                       .reason = "store_unavailable",
                       .detail = changed.error().message(),
                       .principal_arn = {}};
  }
  if (*changed) return std::nullopt;
  return decide(token, user, now);
}

AuthOutcome IamAuthenticator::decide(std::string_view token, std::string_view user,
                                     std::chrono::system_clock::time_point now) {
  AuthOutcome out;
  StoreKeys keys(store_);
  auto claims = sigv4::verify_rds_token(token, user, keys, verify_options_, now, &signing_keys_);
  if (!claims) {
    const auto& rejection = claims.rejection();
    out.reason = std::string(sigv4::auth_failure_name(rejection.reason));
    out.detail = rejection.error.message();
    if (rejection.reason == sigv4::AuthFailure::kUnknownKey) {
      // The store knows inactive keys: say so, not "unknown".
      if (auto parsed = sigv4::parse_rds_token(token)) {
        auto identity = store_.find_access_key(parsed->access_key_id, now);
        if (!identity && identity.error().code() == ErrorCode::kFailedPrecondition) {
          out.reason = "inactive_key";
        }
      }
    }
    return out;
  }
  out.principal_arn = claims->principal_arn;
  // The identity the signature was checked with (the verifier refused expired sessions).
  std::optional<iam::KeyIdentity>& identity = keys.found();
  if (!identity) {
    out.reason = "unknown_key";
    out.detail = "access key " + claims->access_key_id + " was not looked up";
    return out;
  }
  iam::RequestContext request;
  request.principal = identity->principal;
  request.action = "rds-db:connect";
  request.resource = dbuser_arn(user);
  iam::add_global_keys(request, now);
  const iam::EvaluationResult decision = iam::evaluate(identity->policies, request);
  if (!decision.allowed()) {
    out.reason = decision.decision == iam::Decision::kExplicitDeny ? "policy_explicit_deny"
                                                                   : "policy_implicit_deny";
    out.detail = identity->principal.arn + " may not rds-db:connect on " + request.resource + ": " +
                 decision.describe();
    return out;
  }
  out.ok = true;
  out.reason = "ok";
  out.detail = decision.describe();
  return out;
}

}  // namespace writegate::proxy
