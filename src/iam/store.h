// The local IAM/STS store: users, roles, policies, access keys and STS sessions of the
// one-machine stack, kept in STATE_DIR/iam/iam.json (folder 0700, file 0600; or shared with one
// group, see share_read_with_group).
//
// Readers (the proxy, the local AWS endpoint) keep one IamStore open and call
// reload_if_changed() before handling a new connection or request: it costs one stat() when
// nothing changed and re-reads the file when another process (`writegate iam ...`) rewrote it.
// Writers take an exclusive flock on STATE_DIR/iam/.lock, re-read the file, apply their change
// and replace the file atomically (write a temporary file, fsync, rename), so concurrent writers
// never lose each other's changes and readers never see half a file.
//
//   auto store = writegate::iam::IamStore::open(".writegate/state");
//   if (!store) return store.error();              // not_found: tells how to create the store
//   (void)(*store)->reload_if_changed();
//   auto identity = (*store)->find_access_key("AKIA...", std::chrono::system_clock::now());
//   if (!identity) return identity.error();        // not_found / unauthenticated /
//   failed_precondition
//   // identity->secret_access_key verifies the signature; identity->policies decide.
//
// The file holds secret keys and session tokens: nothing here logs or prints them, and every
// error message names keys by id only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/secret_string.h"
#include "iam/evaluator.h"
#include "iam/policy.h"

namespace writegate::iam {

using TimePoint = std::chrono::system_clock::time_point;

inline constexpr std::chrono::seconds kDefaultSessionDuration{3600};
inline constexpr std::chrono::seconds kMinSessionDuration{900};
inline constexpr std::chrono::seconds kMaxSessionDuration{43200};
inline constexpr std::string_view kDefaultStateDir = ".writegate/state";
// Expired sessions stay known this long, so a late request hears "expired", not "unknown key".
inline constexpr std::chrono::hours kExpiredSessionRetention{24};

enum class KeyStatus { kActive, kInactive };

struct StoreSettings {
  std::string account_id = "000000000000";
  std::string region = "us-east-1";
  std::string proxy_resource_id;  // prx-<17 hex>; stable once made (see seed.h)
  // cluster-<26 of [A-Z0-9]>: the database's DbClusterResourceId, the resource of the dbuser ARN
  // the database's own IAM logins (src/pam) check; stable once made (see seed.h).
  std::string cluster_resource_id;
  std::string kms_key_id;  // the local KMS key of the Secrets Manager emulation
};

struct User {
  std::string name;
  std::string user_id;  // AIDA...
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> inline_policies;  // name -> JSON document
  std::vector<std::string> attached_policy_arns;
  TimePoint created;
};

struct Role {
  std::string name;
  std::string role_id;  // AROA...
  std::string description;
  std::string trust_policy;  // JSON document
  std::map<std::string, std::string> tags;
  std::map<std::string, std::string> inline_policies;
  std::vector<std::string> attached_policy_arns;
  std::chrono::seconds max_session_duration = kMaxSessionDuration;
  TimePoint created;
};

struct ManagedPolicy {
  std::string arn;
  std::string name;
  std::string document;
  bool aws_managed = false;  // built in (arn:aws:iam::aws:policy/...), read-only
};

struct AccessKey {
  std::string access_key_id;
  SecretString secret_access_key;
  std::string user_name;
  KeyStatus status = KeyStatus::kActive;
  TimePoint created;
};

struct Session {
  std::string access_key_id;  // ASIA...
  SecretString secret_access_key;
  SecretString session_token;
  std::string role_name;
  std::string session_name;
  TimePoint expiration;
};

// What an access key id resolves to: everything a SigV4 verifier and the evaluator need.
struct KeyIdentity {
  enum class Kind { kUser, kAssumedRole };
  Kind kind = Kind::kUser;
  std::string access_key_id;
  SecretString secret_access_key;
  SecretString session_token;           // empty for long-term keys
  std::optional<TimePoint> expiration;  // sessions only
  PrincipalInfo principal;              // user ARN, or assumed-role ARN (+ account, ids, tags)
  std::string role_name;                // sessions only
  std::string role_arn;                 // sessions only
  std::string session_name;             // sessions only
  std::vector<NamedPolicy> policies;    // identity policies, parsed (inline, then managed)
};

// Constant-time comparison of a presented session token with the stored one.
bool session_token_matches(const KeyIdentity& identity, std::string_view presented_token);

// A principal with its identity policies (for `writegate iam simulate`).
struct PrincipalPolicies {
  PrincipalInfo principal;
  std::vector<NamedPolicy> policies;
};

// The AWS managed policies the store knows (read-only), by ARN. Today:
// arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole (policy version v3).
const std::vector<ManagedPolicy>& aws_managed_policies();

class IamStore {
 public:
  // Opens an existing store; not_found (with the commands that create one) when there is none.
  static Result<std::unique_ptr<IamStore>> open(const std::string& state_dir);
  // Opens the store, creating the folders and an empty store with these settings if missing.
  static Result<std::unique_ptr<IamStore>> open_or_create(const std::string& state_dir,
                                                          const StoreSettings& initial);
  static bool exists(const std::string& state_dir);
  // Opt-in: lets one group (PostgreSQL's account, whose PAM module src/pam verifies tokens with
  // the store) read the store. STATE_DIR/iam becomes GROUP-owned, mode 2750 (setgid), the file
  // GROUP 0640, and STATE_DIR searchable (not readable) by the group. Every later write keeps
  // that: a setgid folder makes writers give the file the folder's group and mode 0640, and
  // open_or_create keeps 2750 instead of 0700. Undo: chmod 0700 the folder (the next write makes
  // the file 0600 again). The group can read every secret in the store: give it to one service
  // account only.
  static Status share_read_with_group(const std::string& state_dir, gid_t group);
  static std::string file_path(const std::string& state_dir);  // STATE_DIR/iam/iam.json

  IamStore(const IamStore&) = delete;
  IamStore& operator=(const IamStore&) = delete;
  ~IamStore();

  // --- reading (thread-safe; each call sees one consistent snapshot) ---

  // Re-reads the file if it changed since it was last read: true when it did.
  Result<bool> reload_if_changed();
  // Whether the file changed since it was last read (one stat, never a read): a caller that
  // must not wait on a reload asks this first.
  Result<bool> changed_on_disk() const;
  // Increases by one with every write; a cheap "did anything change" for caches.
  uint64_t generation() const;
  StoreSettings settings() const;

  // Resolves an access key id at time `now`. Errors:
  //   not_found            unknown key id ("unknown access key id AKIA...")
  //   unauthenticated      session credentials expired ("... expired at 2026-01-01T00:00:00Z")
  //   failed_precondition  the long-term key is Inactive
  Result<KeyIdentity> find_access_key(std::string_view access_key_id, TimePoint now) const;
  // The same without the expiry check (expiration is still filled in): for a verifier that reports
  // "session expired" itself, such as an adapter to sigv4::KeyResolver (ResolvedKey::expires).
  // Expired sessions stay resolvable for kExpiredSessionRetention.
  Result<KeyIdentity> find_access_key_ignoring_expiry(std::string_view access_key_id) const;

  // A user or role by name, or a user / role / assumed-role ARN, with its policies.
  Result<PrincipalPolicies> find_principal(std::string_view name_or_arn) const;
  // A role's trust policy, parsed, named "<role> trust policy".
  Result<NamedPolicy> trust_policy(std::string_view role_name) const;

  std::optional<User> user(std::string_view name) const;
  std::optional<Role> role(std::string_view name) const;
  std::vector<User> users() const;
  std::vector<Role> roles() const;
  std::vector<ManagedPolicy> managed_policies() const;  // customer managed + AWS managed
  // Keys of a user (all users when empty), secrets included: callers must not print them.
  std::vector<AccessKey> access_keys(std::string_view user_name = {}) const;

  // --- writing (each call: lock, re-read, change, atomic replace) ---

  Status update_settings(const std::function<Status(StoreSettings&)>& change);
  Result<User> create_user(std::string_view name, std::map<std::string, std::string> tags = {});
  Status delete_user(std::string_view name);  // with its keys; fails while it has policies
  Result<AccessKey> create_access_key(std::string_view user_name, TimePoint now);
  Status delete_access_key(std::string_view access_key_id);  // AKIA... or ASIA... (revokes)
  Status set_access_key_status(std::string_view access_key_id, KeyStatus status);

  // Creates a role, or (when `replace_existing`) updates its trust policy, description and
  // maximum session duration keeping its id and policies.
  Result<Role> create_role(std::string_view name, std::string_view trust_policy_json,
                           std::string_view description = {},
                           std::chrono::seconds max_session_duration = kMaxSessionDuration,
                           bool replace_existing = false);
  Status delete_role(std::string_view name);  // fails while it has policies
  Status update_assume_role_policy(std::string_view role_name, std::string_view trust_policy_json);

  Status put_user_policy(std::string_view user_name, std::string_view policy_name,
                         std::string_view policy_json);
  Status delete_user_policy(std::string_view user_name, std::string_view policy_name);
  Status put_role_policy(std::string_view role_name, std::string_view policy_name,
                         std::string_view policy_json);
  Status delete_role_policy(std::string_view role_name, std::string_view policy_name);

  // Customer managed policy arn:aws:iam::ACCOUNT:policy/NAME (replaces the document if it exists).
  Result<std::string> put_managed_policy(std::string_view name, std::string_view policy_json);
  Status delete_managed_policy(std::string_view arn);  // fails while attached
  Status attach_user_policy(std::string_view user_name, std::string_view policy_arn);
  Status detach_user_policy(std::string_view user_name, std::string_view policy_arn);
  Status attach_role_policy(std::string_view role_name, std::string_view policy_arn);
  Status detach_role_policy(std::string_view role_name, std::string_view policy_arn);

  // Mints STS credentials for a role. Authorization is the caller's job (authorize_assume_role
  // with trust_policy()); this checks the role exists, the session name ([\w+=,.@-]{2,64}) and
  // the duration (900 s .. the role's maximum, at most 12 h). Expired sessions older than
  // kExpiredSessionRetention are dropped.
  Result<Session> create_session(std::string_view role_name, std::string_view session_name,
                                 std::chrono::seconds duration, TimePoint now);

 private:
  struct Snapshot;
  struct FileSignature {
    uint64_t device = 0, inode = 0, size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const FileSignature&) const = default;
  };
  explicit IamStore(std::string state_dir);
  Status load();  // from disk into snapshot_
  // Runs `change` on a fresh copy of the data under the file lock and writes the result.
  Status mutate(const std::function<Status(Snapshot&)>& change);
  std::shared_ptr<const Snapshot> snapshot() const;
  Result<KeyIdentity> lookup_key(std::string_view access_key_id, const TimePoint* now) const;

  std::string state_dir_;
  std::string dir_;   // state_dir_/iam
  std::string file_;  // dir_/iam.json
  mutable std::mutex mutex_;
  std::shared_ptr<const Snapshot> snapshot_;
  FileSignature signature_;
};

// Shared by the CLI: names are [\w+=,.@-]{1,64} (users, roles, policies).
Status validate_iam_name(std::string_view kind, std::string_view name);

}  // namespace writegate::iam
