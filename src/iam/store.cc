#include "iam/store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "common/strings.h"
#include "common/time.h"
#include "iam/arn.h"
#include "iam/random.h"
#include "iam/strict_json.h"

namespace writegate::iam {

namespace {

using nlohmann::json;

constexpr int kFormatVersion = 1;

std::string errno_text(int err) {
  return std::strerror(err);
}

int64_t to_epoch(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
TimePoint from_epoch(int64_t seconds) {
  return TimePoint(std::chrono::seconds(seconds));
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

Status make_private_dir(const std::string& path) {
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return Error::io("cannot create folder " + path + ": " + errno_text(errno));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error::io(path + " is not a folder");
  }
  return {};
}

Status make_dirs(const std::string& path) {
  std::string partial;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    partial = path.substr(0, pos);
    if (partial.empty()) continue;
    WG_RETURN_IF_ERROR(make_private_dir(partial));
  }
  return {};
}

Result<std::string> read_fd(int fd) {
  std::string content;
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error::io("read failed: " + errno_text(errno));
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > 64u * 1024 * 1024) return Error::out_of_range("store file over 64 MiB");
  }
  return content;
}

Status write_file_atomic(const std::string& dir, const std::string& path,
                         const std::string& content) {
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(++counter);
  FileDescriptor fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (fd.get() < 0) return Error::io("cannot create " + tmp + ": " + errno_text(errno));
  auto fail = [&](const std::string& what) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Error::io(what + " " + tmp + ": " + errno_text(err));
  };
  // A setgid folder (IamStore::share_read_with_group) shares the store with its group: the new
  // file takes the folder's group and 0640, so every atomic replace stays readable to it.
  struct stat dir_st {};
  if (::stat(dir.c_str(), &dir_st) != 0) return fail("cannot stat the folder of");
  const bool shared = (dir_st.st_mode & S_ISGID) != 0;
  if (shared && ::fchown(fd.get(), static_cast<uid_t>(-1), dir_st.st_gid) != 0) {
    return fail("cannot give the folder's group to");
  }
  if (::fchmod(fd.get(), shared ? 0640 : 0600) != 0) return fail("cannot chmod");
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write");
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("cannot fsync");
  if (::close(fd.release()) != 0) return fail("cannot close");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail("cannot rename into place");
  FileDescriptor dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd.get() >= 0) ::fsync(dir_fd.get());
  return {};
}

// Holds the writers' exclusive lock for its lifetime.
class WriterLock {
 public:
  static Result<std::unique_ptr<WriterLock>> acquire(const std::string& dir) {
    std::string path = dir + "/.lock";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Error::io("cannot open lock file " + path + ": " + errno_text(errno));
    auto lock = std::unique_ptr<WriterLock>(new WriterLock(fd));
    while (::flock(fd, LOCK_EX) != 0) {
      if (errno != EINTR) return Error::io("cannot lock " + path + ": " + errno_text(errno));
    }
    return lock;
  }
  ~WriterLock() { ::close(fd_); }  // closing releases the flock
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;

 private:
  explicit WriterLock(int fd) : fd_(fd) {}
  int fd_;
};

bool valid_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '+' || c == '=' || c == ',' || c == '.' || c == '@' || c == '-';
}

// AWS's AdministratorAccess, as AWS publishes it: the local stack's administrator has it.
const char* kAdministratorAccessPolicy = R"({
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "*",
      "Resource": "*"
    }
  ]
})";

const char* kVpcAccessPolicy = R"({
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AWSLambdaVPCAccessExecutionPermissions",
      "Effect": "Allow",
      "Action": [
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "ec2:CreateNetworkInterface",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSubnets",
        "ec2:DeleteNetworkInterface",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses"
      ],
      "Resource": "*"
    }
  ]
})";

}  // namespace

struct IamStore::Snapshot {
  uint64_t generation = 0;
  StoreSettings settings;
  std::map<std::string, User, std::less<>> users;
  std::map<std::string, Role, std::less<>> roles;
  std::map<std::string, ManagedPolicy, std::less<>> managed;  // customer managed, by ARN
  std::map<std::string, AccessKey, std::less<>> keys;
  std::map<std::string, Session, std::less<>> sessions;
  // Derived on load: parsed documents.
  std::map<std::string, std::vector<NamedPolicy>, std::less<>> user_policies;
  std::map<std::string, std::vector<NamedPolicy>, std::less<>> role_policies;
  std::map<std::string, NamedPolicy, std::less<>> trust_policies;

  const ManagedPolicy* find_managed(std::string_view arn) const {
    if (auto it = managed.find(arn); it != managed.end()) return &it->second;
    for (const auto& policy : aws_managed_policies()) {
      if (policy.arn == arn) return &policy;
    }
    return nullptr;
  }

  Result<std::vector<NamedPolicy>> build_policies(
      const std::string& owner, const std::map<std::string, std::string>& inline_policies,
      const std::vector<std::string>& attached,
      std::map<std::string, std::shared_ptr<const Policy>>& managed_cache) const {
    std::vector<NamedPolicy> out;
    for (const auto& [name, document] : inline_policies) {
      auto policy = parse_policy(document);
      if (!policy) return std::move(policy).error().with_context(owner + " policy " + name);
      out.push_back({name, std::make_shared<const Policy>(std::move(*policy))});
    }
    for (const auto& arn : attached) {
      auto cached = managed_cache.find(arn);
      if (cached == managed_cache.end()) {
        const ManagedPolicy* source = find_managed(arn);
        if (!source)
          return Error::failed_precondition(owner + " has unknown policy " + arn + " attached");
        auto policy = parse_policy(source->document);
        if (!policy) return std::move(policy).error().with_context("managed policy " + arn);
        cached =
            managed_cache.emplace(arn, std::make_shared<const Policy>(std::move(*policy))).first;
      }
      out.push_back({arn, cached->second});
    }
    return out;
  }

  Status build_index() {
    user_policies.clear();
    role_policies.clear();
    trust_policies.clear();
    std::map<std::string, std::shared_ptr<const Policy>> managed_cache;
    for (const auto& [name, user] : users) {
      WG_ASSIGN_OR_RETURN(auto policies, build_policies("user " + name, user.inline_policies,
                                                        user.attached_policy_arns, managed_cache));
      user_policies.emplace(name, std::move(policies));
    }
    for (const auto& [name, role] : roles) {
      WG_ASSIGN_OR_RETURN(auto policies, build_policies("role " + name, role.inline_policies,
                                                        role.attached_policy_arns, managed_cache));
      role_policies.emplace(name, std::move(policies));
      auto trust = parse_policy(role.trust_policy, PolicyKind::kTrust);
      if (!trust) return std::move(trust).error().with_context("role " + name + " trust policy");
      trust_policies.emplace(name, NamedPolicy{name + " trust policy",
                                               std::make_shared<const Policy>(std::move(*trust))});
    }
    return {};
  }

  PrincipalInfo user_principal(const User& user) const {
    PrincipalInfo info;
    info.type = PrincipalInfo::Type::kUser;
    info.arn = user_arn(settings.account_id, user.name);
    info.account = settings.account_id;
    info.name = user.name;
    info.user_id = user.user_id;
    info.tags = user.tags;
    return info;
  }

  PrincipalInfo role_principal(const Role& role, std::string_view session_name) const {
    PrincipalInfo info;
    info.account = settings.account_id;
    info.name = role.name;
    info.tags = role.tags;
    if (session_name.empty()) {
      info.type = PrincipalInfo::Type::kRole;
      info.arn = role_arn(settings.account_id, role.name);
      info.user_id = role.role_id;
    } else {
      info.type = PrincipalInfo::Type::kAssumedRole;
      info.arn = assumed_role_arn(settings.account_id, role.name, session_name);
      info.user_id = role.role_id + ":" + std::string(session_name);
    }
    return info;
  }

  json to_json() const {
    json root;
    root["format"] = kFormatVersion;
    root["generation"] = generation;
    root["settings"] = {{"account_id", settings.account_id},
                        {"region", settings.region},
                        {"proxy_resource_id", settings.proxy_resource_id},
                        {"cluster_resource_id", settings.cluster_resource_id},
                        {"kms_key_id", settings.kms_key_id}};
    json& users_json = root["users"] = json::object();
    for (const auto& [name, user] : users) {
      users_json[name] = {{"user_id", user.user_id},
                          {"tags", user.tags},
                          {"inline_policies", user.inline_policies},
                          {"attached_policies", user.attached_policy_arns},
                          {"created", to_epoch(user.created)}};
    }
    json& roles_json = root["roles"] = json::object();
    for (const auto& [name, role] : roles) {
      roles_json[name] = {{"role_id", role.role_id},
                          {"description", role.description},
                          {"trust_policy", role.trust_policy},
                          {"tags", role.tags},
                          {"inline_policies", role.inline_policies},
                          {"attached_policies", role.attached_policy_arns},
                          {"max_session_seconds", role.max_session_duration.count()},
                          {"created", to_epoch(role.created)}};
    }
    json& managed_json = root["managed_policies"] = json::object();
    for (const auto& [arn, policy] : managed) {
      managed_json[arn] = {{"name", policy.name}, {"document", policy.document}};
    }
    json& keys_json = root["access_keys"] = json::object();
    for (const auto& [id, key] : keys) {
      keys_json[id] = {{"user", key.user_name},
                       {"secret", key.secret_access_key.reveal()},
                       {"status", key.status == KeyStatus::kActive ? "Active" : "Inactive"},
                       {"created", to_epoch(key.created)}};
    }
    json& sessions_json = root["sessions"] = json::object();
    for (const auto& [id, session] : sessions) {
      sessions_json[id] = {{"role", session.role_name},
                           {"session_name", session.session_name},
                           {"secret", session.secret_access_key.reveal()},
                           {"session_token", session.session_token.reveal()},
                           {"expiration", to_epoch(session.expiration)}};
    }
    return root;
  }

  static Result<Snapshot> from_json(const json& root) {
    // The file is ours, but it is input: wrong types become errors, never crashes.
    try {
      Snapshot s;
      const std::set<std::string> kTop = {"format", "generation",       "settings",    "users",
                                          "roles",  "managed_policies", "access_keys", "sessions"};
      for (const auto& [key, value] : root.items()) {
        if (!kTop.contains(key))
          return Error::failed_precondition("unknown key " + double_quoted(key));
      }
      if (root.at("format").get<int>() != kFormatVersion) {
        return Error::failed_precondition("format " + root.at("format").dump() +
                                          " is not supported (expected " +
                                          std::to_string(kFormatVersion) + ")");
      }
      s.generation = root.at("generation").get<uint64_t>();
      const json& settings = root.at("settings");
      s.settings.account_id = settings.at("account_id").get<std::string>();
      s.settings.region = settings.at("region").get<std::string>();
      s.settings.proxy_resource_id = settings.at("proxy_resource_id").get<std::string>();
      s.settings.kms_key_id = settings.at("kms_key_id").get<std::string>();
      // Stores written before the cluster resource id existed lack it: seed makes one.
      if (settings.contains("cluster_resource_id")) {
        s.settings.cluster_resource_id = settings.at("cluster_resource_id").get<std::string>();
      }
      for (const auto& [name, u] : root.at("users").items()) {
        User user;
        user.name = name;
        user.user_id = u.at("user_id").get<std::string>();
        user.tags = u.at("tags").get<std::map<std::string, std::string>>();
        user.inline_policies = u.at("inline_policies").get<std::map<std::string, std::string>>();
        user.attached_policy_arns = u.at("attached_policies").get<std::vector<std::string>>();
        user.created = from_epoch(u.at("created").get<int64_t>());
        s.users.emplace(name, std::move(user));
      }
      for (const auto& [name, r] : root.at("roles").items()) {
        Role role;
        role.name = name;
        role.role_id = r.at("role_id").get<std::string>();
        role.description = r.at("description").get<std::string>();
        role.trust_policy = r.at("trust_policy").get<std::string>();
        role.tags = r.at("tags").get<std::map<std::string, std::string>>();
        role.inline_policies = r.at("inline_policies").get<std::map<std::string, std::string>>();
        role.attached_policy_arns = r.at("attached_policies").get<std::vector<std::string>>();
        role.max_session_duration =
            std::chrono::seconds(r.at("max_session_seconds").get<int64_t>());
        role.created = from_epoch(r.at("created").get<int64_t>());
        s.roles.emplace(name, std::move(role));
      }
      for (const auto& [arn, m] : root.at("managed_policies").items()) {
        s.managed.emplace(arn, ManagedPolicy{arn, m.at("name").get<std::string>(),
                                             m.at("document").get<std::string>(), false});
      }
      for (const auto& [id, k] : root.at("access_keys").items()) {
        AccessKey key;
        key.access_key_id = id;
        key.user_name = k.at("user").get<std::string>();
        key.secret_access_key = k.at("secret").get<std::string>();
        std::string status = k.at("status").get<std::string>();
        if (status != "Active" && status != "Inactive") {
          return Error::failed_precondition("access key " + id + " has status " +
                                            double_quoted(status));
        }
        key.status = status == "Active" ? KeyStatus::kActive : KeyStatus::kInactive;
        key.created = from_epoch(k.at("created").get<int64_t>());
        s.keys.emplace(id, std::move(key));
      }
      for (const auto& [id, v] : root.at("sessions").items()) {
        Session session;
        session.access_key_id = id;
        session.role_name = v.at("role").get<std::string>();
        session.session_name = v.at("session_name").get<std::string>();
        session.secret_access_key = v.at("secret").get<std::string>();
        session.session_token = v.at("session_token").get<std::string>();
        session.expiration = from_epoch(v.at("expiration").get<int64_t>());
        s.sessions.emplace(id, std::move(session));
      }
      return s;
    } catch (const json::exception& e) {
      std::string what = e.what();
      auto bracket = what.find("] ");
      return Error::failed_precondition(bracket == std::string::npos ? what
                                                                     : what.substr(bracket + 2));
    }
  }
};

const std::vector<ManagedPolicy>& aws_managed_policies() {
  static const std::vector<ManagedPolicy> kPolicies = {
      {"arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole",
       "AWSLambdaVPCAccessExecutionRole", kVpcAccessPolicy, true},
      {"arn:aws:iam::aws:policy/AdministratorAccess", "AdministratorAccess",
       kAdministratorAccessPolicy, true},
  };
  return kPolicies;
}

bool session_token_matches(const KeyIdentity& identity, std::string_view presented_token) {
  return !identity.session_token.empty() && identity.session_token.equals(presented_token);
}

Status validate_iam_name(std::string_view kind, std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return Error::invalid_argument(std::string(kind) + " name " + double_quoted(name) +
                                   " must have 1 to 64 characters");
  }
  for (char c : name) {
    if (!valid_name_char(c)) {
      return Error::invalid_argument(std::string(kind) + " name " + double_quoted(name) +
                                     " may contain only letters, digits and _+=,.@-");
    }
  }
  return {};
}

IamStore::IamStore(std::string state_dir)
    : state_dir_(std::move(state_dir)), dir_(state_dir_ + "/iam"), file_(dir_ + "/iam.json") {}

IamStore::~IamStore() = default;

std::string IamStore::file_path(const std::string& state_dir) {
  return state_dir + "/iam/iam.json";
}

Status IamStore::share_read_with_group(const std::string& state_dir, gid_t group) {
  const std::string dir = state_dir + "/iam";
  const std::string file = file_path(state_dir);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    return Error::not_found("no IAM store at " + file + ": " + errno_text(errno));
  }
  if (::stat(state_dir.c_str(), &st) != 0) {
    return Error::io("cannot stat " + state_dir + ": " + errno_text(errno));
  }
  // The group needs search (not read) on the state folder to reach iam/.
  const bool reachable =
      (st.st_mode & S_IXOTH) != 0 || (st.st_gid == group && (st.st_mode & S_IXGRP) != 0);
  if (!reachable) {
    if (::chown(state_dir.c_str(), static_cast<uid_t>(-1), group) != 0 ||
        ::chmod(state_dir.c_str(), (st.st_mode & 07777) | S_IXGRP) != 0) {
      return Error::io("cannot let group " + std::to_string(group) + " search " + state_dir + ": " +
                       errno_text(errno));
    }
  }
  // Under the writers' lock, so no replace races the change of the file's group and mode.
  WG_ASSIGN_OR_RETURN(auto lock, WriterLock::acquire(dir));
  if (::chown(dir.c_str(), static_cast<uid_t>(-1), group) != 0 ||
      ::chmod(dir.c_str(), 02750) != 0 ||
      ::chown(file.c_str(), static_cast<uid_t>(-1), group) != 0 ||
      ::chmod(file.c_str(), 0640) != 0) {
    return Error::io("cannot share " + dir + " with group " + std::to_string(group) + ": " +
                     errno_text(errno));
  }
  return {};
}

bool IamStore::exists(const std::string& state_dir) {
  struct stat st {};
  return ::stat(file_path(state_dir).c_str(), &st) == 0;
}

Result<std::unique_ptr<IamStore>> IamStore::open(const std::string& state_dir) {
  struct stat st {};
  if (::stat(file_path(state_dir).c_str(), &st) != 0 && errno != ENOENT) {
    // There may be a store this process may not reach (a folder it cannot search).
    return Error::io("cannot reach " + file_path(state_dir) + ": " + errno_text(errno));
  }
  if (!exists(state_dir)) {
    return Error::not_found("no IAM store in " + state_dir + " (" + file_path(state_dir) +
                            " is missing); create it with `writegate iam seed --state " +
                            state_dir + "` or start the stack with `writegate up`");
  }
  auto store = std::unique_ptr<IamStore>(new IamStore(state_dir));
  WG_RETURN_IF_ERROR(store->load());
  return store;
}

Result<std::unique_ptr<IamStore>> IamStore::open_or_create(const std::string& state_dir,
                                                           const StoreSettings& initial) {
  if (!is_account_id(initial.account_id)) {
    return Error::invalid_argument("account id " + double_quoted(initial.account_id) +
                                   " must be 12 digits");
  }
  auto store = std::unique_ptr<IamStore>(new IamStore(state_dir));
  WG_RETURN_IF_ERROR(make_dirs(state_dir));
  WG_RETURN_IF_ERROR(make_private_dir(store->dir_));
  struct stat dir_st {};
  if (::stat(store->dir_.c_str(), &dir_st) != 0) {
    return Error::io("cannot stat " + store->dir_ + ": " + errno_text(errno));
  }
  // 0700, or 2750 when the store was shared with a group (share_read_with_group): kept.
  const mode_t dir_mode = (dir_st.st_mode & S_ISGID) != 0 ? 02750 : 0700;
  if (::chmod(store->dir_.c_str(), dir_mode) != 0) {
    return Error::io("cannot chmod " + store->dir_ + ": " + errno_text(errno));
  }
  {
    WG_ASSIGN_OR_RETURN(auto lock, WriterLock::acquire(store->dir_));
    if (!exists(state_dir)) {
      Snapshot empty;
      empty.generation = 1;
      empty.settings = initial;
      WG_RETURN_IF_ERROR(
          write_file_atomic(store->dir_, store->file_, empty.to_json().dump(2) + "\n"));
    }
  }
  WG_RETURN_IF_ERROR(store->load());
  return store;
}

Status IamStore::load() {
  // O_NONBLOCK: a FIFO put in the file's place must not hang a reader (the PAM module runs
  // inside PostgreSQL's login path); only a regular file is read.
  FileDescriptor fd(::open(file_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (fd.get() < 0) return Error::io("cannot open " + file_ + ": " + errno_text(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return Error::io("cannot stat " + file_ + ": " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) return Error::io(file_ + " is not a regular file");
  auto content = read_fd(fd.get());
  if (!content) return std::move(content).error().with_context(file_);
  auto parsed = internal::parse_strict_json(*content, 16);
  if (!parsed) return Error::failed_precondition(file_ + ": " + parsed.error().message());
  if (!parsed->duplicates.empty()) {
    return Error::failed_precondition(file_ + ": duplicate key " +
                                      double_quoted(parsed->duplicates[0].key));
  }
  auto snapshot = Snapshot::from_json(parsed->value);
  if (!snapshot) return Error::failed_precondition(file_ + ": " + snapshot.error().message());
  auto built = snapshot->build_index();
  if (!built) return Error::failed_precondition(file_ + ": " + built.error().message());
  FileSignature signature{
      static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
      static_cast<uint64_t>(st.st_size),
      static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  std::lock_guard<std::mutex> guard(mutex_);
  snapshot_ = std::make_shared<const Snapshot>(std::move(*snapshot));
  signature_ = signature;
  return {};
}

Result<bool> IamStore::changed_on_disk() const {
  struct stat st {};
  if (::stat(file_.c_str(), &st) != 0)
    return Error::io("cannot stat " + file_ + ": " + errno_text(errno));
  FileSignature now{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                    static_cast<uint64_t>(st.st_size),
                    static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  std::lock_guard<std::mutex> guard(mutex_);
  return !(now == signature_);
}

Result<bool> IamStore::reload_if_changed() {
  WG_ASSIGN_OR_RETURN(const bool changed, changed_on_disk());
  if (!changed) return false;
  WG_RETURN_IF_ERROR(load());
  return true;
}

std::shared_ptr<const IamStore::Snapshot> IamStore::snapshot() const {
  std::lock_guard<std::mutex> guard(mutex_);
  return snapshot_;
}

uint64_t IamStore::generation() const {
  return snapshot()->generation;
}
StoreSettings IamStore::settings() const {
  return snapshot()->settings;
}

Status IamStore::mutate(const std::function<Status(Snapshot&)>& change) {
  WG_ASSIGN_OR_RETURN(auto lock, WriterLock::acquire(dir_));
  WG_RETURN_IF_ERROR(load());
  Snapshot copy = *snapshot();
  WG_RETURN_IF_ERROR(change(copy));
  copy.generation += 1;
  WG_RETURN_IF_ERROR(copy.build_index());
  WG_RETURN_IF_ERROR(write_file_atomic(dir_, file_, copy.to_json().dump(2) + "\n"));
  return load();
}

Result<KeyIdentity> IamStore::find_access_key(std::string_view access_key_id, TimePoint now) const {
  return lookup_key(access_key_id, &now);
}

Result<KeyIdentity> IamStore::find_access_key_ignoring_expiry(
    std::string_view access_key_id) const {
  return lookup_key(access_key_id, nullptr);
}

Result<KeyIdentity> IamStore::lookup_key(std::string_view access_key_id,
                                         const TimePoint* now) const {
  auto s = snapshot();
  KeyIdentity identity;
  identity.access_key_id = std::string(access_key_id);
  if (auto it = s->sessions.find(access_key_id); it != s->sessions.end()) {
    const Session& session = it->second;
    if (now && *now >= session.expiration) {
      return Error::unauthenticated("session credentials " + std::string(access_key_id) +
                                    " expired at " + format_iso8601(session.expiration));
    }
    auto role = s->roles.find(session.role_name);
    if (role == s->roles.end()) {
      return Error::not_found("role " + session.role_name + " of session " +
                              std::string(access_key_id) + " no longer exists");
    }
    identity.kind = KeyIdentity::Kind::kAssumedRole;
    identity.secret_access_key = session.secret_access_key;
    identity.session_token = session.session_token;
    identity.expiration = session.expiration;
    identity.principal = s->role_principal(role->second, session.session_name);
    identity.role_name = session.role_name;
    identity.role_arn = role_arn(s->settings.account_id, session.role_name);
    identity.session_name = session.session_name;
    identity.policies = s->role_policies.at(session.role_name);
    return identity;
  }
  auto it = s->keys.find(access_key_id);
  if (it == s->keys.end()) {
    return Error::not_found("unknown access key id " + std::string(access_key_id));
  }
  const AccessKey& key = it->second;
  if (key.status != KeyStatus::kActive) {
    return Error::failed_precondition("access key " + std::string(access_key_id) + " is Inactive");
  }
  auto user = s->users.find(key.user_name);
  if (user == s->users.end()) {
    return Error::not_found("user " + key.user_name + " of access key " +
                            std::string(access_key_id) + " no longer exists");
  }
  identity.kind = KeyIdentity::Kind::kUser;
  identity.secret_access_key = key.secret_access_key;
  identity.principal = s->user_principal(user->second);
  identity.policies = s->user_policies.at(key.user_name);
  return identity;
}

Result<PrincipalPolicies> IamStore::find_principal(std::string_view name_or_arn) const {
  auto s = snapshot();
  const std::string text(name_or_arn);
  auto by_user = [&](const std::string& name) -> Result<PrincipalPolicies> {
    auto it = s->users.find(name);
    if (it == s->users.end()) return Error::not_found("no user named " + double_quoted(name));
    return PrincipalPolicies{s->user_principal(it->second), s->user_policies.at(name)};
  };
  auto by_role = [&](const std::string& name,
                     std::string_view session) -> Result<PrincipalPolicies> {
    auto it = s->roles.find(name);
    if (it == s->roles.end()) return Error::not_found("no role named " + double_quoted(name));
    return PrincipalPolicies{s->role_principal(it->second, session), s->role_policies.at(name)};
  };
  if (text.starts_with("arn:")) {
    WG_ASSIGN_OR_RETURN(auto arn, parse_arn(text));
    if (arn.account != s->settings.account_id) {
      return Error::not_found(text + " is not in account " + s->settings.account_id +
                              " of this store");
    }
    auto last = [](std::string_view path) {
      size_t slash = path.rfind('/');
      return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
    };
    if (arn.service == "iam" && arn.resource.starts_with("user/"))
      return by_user(last(arn.resource));
    if (arn.service == "iam" && arn.resource.starts_with("role/"))
      return by_role(last(arn.resource), {});
    if (arn.service == "sts" && arn.resource.starts_with("assumed-role/")) {
      std::string_view rest = std::string_view(arn.resource).substr(13);
      size_t slash = rest.find('/');
      if (slash == std::string_view::npos || slash + 1 == rest.size()) {
        return Error::invalid_argument(text +
                                       " is not arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION");
      }
      return by_role(std::string(rest.substr(0, slash)), rest.substr(slash + 1));
    }
    return Error::invalid_argument(text + " is not a user, role or assumed-role ARN");
  }
  bool is_user = s->users.contains(text), is_role = s->roles.contains(text);
  if (is_user && is_role) {
    return Error::invalid_argument(double_quoted(text) +
                                   " is both a user and a role; give the ARN (" +
                                   user_arn(s->settings.account_id, text) + " or " +
                                   role_arn(s->settings.account_id, text) + ")");
  }
  if (is_user) return by_user(text);
  if (is_role) return by_role(text, {});
  return Error::not_found("no user or role named " + double_quoted(text) + " in " + file_);
}

Result<NamedPolicy> IamStore::trust_policy(std::string_view role_name) const {
  auto s = snapshot();
  auto it = s->trust_policies.find(role_name);
  if (it == s->trust_policies.end())
    return Error::not_found("no role named " + double_quoted(role_name));
  return it->second;
}

std::optional<User> IamStore::user(std::string_view name) const {
  auto s = snapshot();
  auto it = s->users.find(name);
  if (it == s->users.end()) return std::nullopt;
  return it->second;
}

std::optional<Role> IamStore::role(std::string_view name) const {
  auto s = snapshot();
  auto it = s->roles.find(name);
  if (it == s->roles.end()) return std::nullopt;
  return it->second;
}

std::vector<User> IamStore::users() const {
  std::vector<User> out;
  for (const auto& [name, user] : snapshot()->users)
    out.push_back(user);
  return out;
}

std::vector<Role> IamStore::roles() const {
  std::vector<Role> out;
  for (const auto& [name, role] : snapshot()->roles)
    out.push_back(role);
  return out;
}

std::vector<ManagedPolicy> IamStore::managed_policies() const {
  std::vector<ManagedPolicy> out;
  for (const auto& [arn, policy] : snapshot()->managed)
    out.push_back(policy);
  for (const auto& policy : aws_managed_policies())
    out.push_back(policy);
  return out;
}

std::vector<AccessKey> IamStore::access_keys(std::string_view user_name) const {
  std::vector<AccessKey> out;
  for (const auto& [id, key] : snapshot()->keys) {
    if (user_name.empty() || key.user_name == user_name) out.push_back(key);
  }
  return out;
}

Status IamStore::update_settings(const std::function<Status(StoreSettings&)>& change) {
  return mutate([&](Snapshot& s) -> Status {
    WG_RETURN_IF_ERROR(change(s.settings));
    if (!is_account_id(s.settings.account_id)) {
      return Error::invalid_argument("account id " + double_quoted(s.settings.account_id) +
                                     " must be 12 digits");
    }
    if (!s.settings.proxy_resource_id.empty() &&
        !is_proxy_resource_id(s.settings.proxy_resource_id)) {
      return Error::invalid_argument("proxy resource id " +
                                     double_quoted(s.settings.proxy_resource_id) +
                                     " is not prx- followed by 17 lowercase hex digits");
    }
    if (!s.settings.cluster_resource_id.empty() &&
        !is_cluster_resource_id(s.settings.cluster_resource_id)) {
      return Error::invalid_argument(
          "cluster resource id " + double_quoted(s.settings.cluster_resource_id) +
          " is not cluster- followed by 26 upper-case letters or digits");
    }
    return {};
  });
}

Result<User> IamStore::create_user(std::string_view name, std::map<std::string, std::string> tags) {
  WG_RETURN_IF_ERROR(validate_iam_name("user", name));
  WG_ASSIGN_OR_RETURN(auto user_id, new_unique_id("AIDA"));
  User created;
  WG_RETURN_IF_ERROR(mutate([&](Snapshot& s) -> Status {
    if (s.users.contains(name))
      return Error::already_exists("user " + double_quoted(name) + " already exists");
    created.name = std::string(name);
    created.user_id = user_id;
    created.tags = tags;
    created.created = std::chrono::system_clock::now();
    s.users.emplace(created.name, created);
    return {};
  }));
  return created;
}

Status IamStore::delete_user(std::string_view name) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.users.find(name);
    if (it == s.users.end()) return Error::not_found("no user named " + double_quoted(name));
    if (!it->second.inline_policies.empty() || !it->second.attached_policy_arns.empty()) {
      return Error::failed_precondition("user " + double_quoted(name) +
                                        " still has policies; delete or detach them first");
    }
    std::erase_if(s.keys, [&](const auto& entry) { return entry.second.user_name == name; });
    s.users.erase(it);
    return {};
  });
}

Result<AccessKey> IamStore::create_access_key(std::string_view user_name, TimePoint now) {
  WG_ASSIGN_OR_RETURN(auto id, new_access_key_id(KeyKind::kLongTerm));
  WG_ASSIGN_OR_RETURN(auto secret, new_secret_access_key());
  AccessKey created;
  WG_RETURN_IF_ERROR(mutate([&](Snapshot& s) -> Status {
    if (!s.users.contains(user_name))
      return Error::not_found("no user named " + double_quoted(user_name));
    size_t count = 0;
    for (const auto& [key_id, key] : s.keys)
      count += key.user_name == user_name ? 1 : 0;
    if (count >= 2) {
      return Error::failed_precondition(
          "user " + double_quoted(user_name) +
          " already has 2 access keys (the AWS limit); delete one first");
    }
    if (s.keys.contains(id)) return Error::internal("access key id collision");
    created = AccessKey{id, secret, std::string(user_name), KeyStatus::kActive, now};
    s.keys.emplace(id, created);
    return {};
  }));
  return created;
}

Status IamStore::delete_access_key(std::string_view access_key_id) {
  return mutate([&](Snapshot& s) -> Status {
    if (auto it = s.keys.find(access_key_id); it != s.keys.end()) {
      s.keys.erase(it);
      return {};
    }
    if (auto it = s.sessions.find(access_key_id); it != s.sessions.end()) {
      s.sessions.erase(it);
      return {};
    }
    return Error::not_found("unknown access key id " + std::string(access_key_id));
  });
}

Status IamStore::set_access_key_status(std::string_view access_key_id, KeyStatus status) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.keys.find(access_key_id);
    if (it == s.keys.end())
      return Error::not_found("unknown access key id " + std::string(access_key_id));
    it->second.status = status;
    return {};
  });
}

Result<Role> IamStore::create_role(std::string_view name, std::string_view trust_policy_json,
                                   std::string_view description,
                                   std::chrono::seconds max_session_duration,
                                   bool replace_existing) {
  WG_RETURN_IF_ERROR(validate_iam_name("role", name));
  auto trust = parse_policy(trust_policy_json, PolicyKind::kTrust);
  if (!trust)
    return std::move(trust).error().with_context("trust policy of role " + std::string(name));
  if (max_session_duration < std::chrono::seconds(3600) ||
      max_session_duration > kMaxSessionDuration) {
    return Error::invalid_argument("maximum session duration must be 3600 to 43200 seconds, got " +
                                   std::to_string(max_session_duration.count()));
  }
  WG_ASSIGN_OR_RETURN(auto role_id, new_unique_id("AROA"));
  Role result;
  WG_RETURN_IF_ERROR(mutate([&](Snapshot& s) -> Status {
    auto it = s.roles.find(name);
    if (it != s.roles.end() && !replace_existing) {
      return Error::already_exists("role " + double_quoted(name) + " already exists");
    }
    if (it == s.roles.end()) {
      Role role;
      role.name = std::string(name);
      role.role_id = role_id;
      role.created = std::chrono::system_clock::now();
      it = s.roles.emplace(role.name, std::move(role)).first;
    }
    it->second.trust_policy = std::string(trust_policy_json);
    it->second.description = std::string(description);
    it->second.max_session_duration = max_session_duration;
    result = it->second;
    return {};
  }));
  return result;
}

Status IamStore::delete_role(std::string_view name) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.roles.find(name);
    if (it == s.roles.end()) return Error::not_found("no role named " + double_quoted(name));
    if (!it->second.inline_policies.empty() || !it->second.attached_policy_arns.empty()) {
      return Error::failed_precondition("role " + double_quoted(name) +
                                        " still has policies; delete or detach them first");
    }
    std::erase_if(s.sessions, [&](const auto& entry) { return entry.second.role_name == name; });
    s.roles.erase(it);
    return {};
  });
}

Status IamStore::update_assume_role_policy(std::string_view role_name,
                                           std::string_view trust_policy_json) {
  auto trust = parse_policy(trust_policy_json, PolicyKind::kTrust);
  if (!trust)
    return std::move(trust).error().with_context("trust policy of role " + std::string(role_name));
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.roles.find(role_name);
    if (it == s.roles.end()) return Error::not_found("no role named " + double_quoted(role_name));
    it->second.trust_policy = std::string(trust_policy_json);
    return {};
  });
}

namespace {
Status check_policy(std::string_view policy_name, std::string_view policy_json) {
  WG_RETURN_IF_ERROR(validate_iam_name("policy", policy_name));
  auto policy = parse_policy(policy_json);
  if (!policy) return std::move(policy).error().with_context("policy " + std::string(policy_name));
  return {};
}
}  // namespace

Status IamStore::put_user_policy(std::string_view user_name, std::string_view policy_name,
                                 std::string_view policy_json) {
  WG_RETURN_IF_ERROR(check_policy(policy_name, policy_json));
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.users.find(user_name);
    if (it == s.users.end()) return Error::not_found("no user named " + double_quoted(user_name));
    it->second.inline_policies[std::string(policy_name)] = std::string(policy_json);
    return {};
  });
}

Status IamStore::delete_user_policy(std::string_view user_name, std::string_view policy_name) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.users.find(user_name);
    if (it == s.users.end()) return Error::not_found("no user named " + double_quoted(user_name));
    if (it->second.inline_policies.erase(std::string(policy_name)) == 0) {
      return Error::not_found("user " + double_quoted(user_name) + " has no policy " +
                              double_quoted(policy_name));
    }
    return {};
  });
}

Status IamStore::put_role_policy(std::string_view role_name, std::string_view policy_name,
                                 std::string_view policy_json) {
  WG_RETURN_IF_ERROR(check_policy(policy_name, policy_json));
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.roles.find(role_name);
    if (it == s.roles.end()) return Error::not_found("no role named " + double_quoted(role_name));
    it->second.inline_policies[std::string(policy_name)] = std::string(policy_json);
    return {};
  });
}

Status IamStore::delete_role_policy(std::string_view role_name, std::string_view policy_name) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.roles.find(role_name);
    if (it == s.roles.end()) return Error::not_found("no role named " + double_quoted(role_name));
    if (it->second.inline_policies.erase(std::string(policy_name)) == 0) {
      return Error::not_found("role " + double_quoted(role_name) + " has no policy " +
                              double_quoted(policy_name));
    }
    return {};
  });
}

Result<std::string> IamStore::put_managed_policy(std::string_view name,
                                                 std::string_view policy_json) {
  WG_RETURN_IF_ERROR(check_policy(name, policy_json));
  std::string arn;
  WG_RETURN_IF_ERROR(mutate([&](Snapshot& s) -> Status {
    arn = "arn:aws:iam::" + s.settings.account_id + ":policy/" + std::string(name);
    s.managed[arn] = ManagedPolicy{arn, std::string(name), std::string(policy_json), false};
    return {};
  }));
  return arn;
}

Status IamStore::delete_managed_policy(std::string_view arn) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.managed.find(arn);
    if (it == s.managed.end())
      return Error::not_found("no customer managed policy " + std::string(arn));
    auto attached = [&](const std::vector<std::string>& arns) {
      return std::find(arns.begin(), arns.end(), arn) != arns.end();
    };
    for (const auto& [name, user] : s.users) {
      if (attached(user.attached_policy_arns)) {
        return Error::failed_precondition(std::string(arn) + " is attached to user " + name);
      }
    }
    for (const auto& [name, role] : s.roles) {
      if (attached(role.attached_policy_arns)) {
        return Error::failed_precondition(std::string(arn) + " is attached to role " + name);
      }
    }
    s.managed.erase(it);
    return {};
  });
}

namespace {
Status attach(std::vector<std::string>& arns, std::string_view arn) {
  if (std::find(arns.begin(), arns.end(), arn) == arns.end()) arns.emplace_back(arn);
  return {};
}
Status detach(std::vector<std::string>& arns, std::string_view arn, const std::string& owner) {
  auto it = std::find(arns.begin(), arns.end(), arn);
  if (it == arns.end()) return Error::not_found(std::string(arn) + " is not attached to " + owner);
  arns.erase(it);
  return {};
}
}  // namespace

Status IamStore::attach_user_policy(std::string_view user_name, std::string_view policy_arn) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.users.find(user_name);
    if (it == s.users.end()) return Error::not_found("no user named " + double_quoted(user_name));
    if (!s.find_managed(policy_arn))
      return Error::not_found("no managed policy " + std::string(policy_arn));
    return attach(it->second.attached_policy_arns, policy_arn);
  });
}

Status IamStore::detach_user_policy(std::string_view user_name, std::string_view policy_arn) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.users.find(user_name);
    if (it == s.users.end()) return Error::not_found("no user named " + double_quoted(user_name));
    return detach(it->second.attached_policy_arns, policy_arn, "user " + std::string(user_name));
  });
}

Status IamStore::attach_role_policy(std::string_view role_name, std::string_view policy_arn) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.roles.find(role_name);
    if (it == s.roles.end()) return Error::not_found("no role named " + double_quoted(role_name));
    if (!s.find_managed(policy_arn))
      return Error::not_found("no managed policy " + std::string(policy_arn));
    return attach(it->second.attached_policy_arns, policy_arn);
  });
}

Status IamStore::detach_role_policy(std::string_view role_name, std::string_view policy_arn) {
  return mutate([&](Snapshot& s) -> Status {
    auto it = s.roles.find(role_name);
    if (it == s.roles.end()) return Error::not_found("no role named " + double_quoted(role_name));
    return detach(it->second.attached_policy_arns, policy_arn, "role " + std::string(role_name));
  });
}

Result<Session> IamStore::create_session(std::string_view role_name, std::string_view session_name,
                                         std::chrono::seconds duration, TimePoint now) {
  if (session_name.size() < 2 || session_name.size() > 64 ||
      !std::all_of(session_name.begin(), session_name.end(), valid_name_char)) {
    return Error::invalid_argument("role session name " + double_quoted(session_name) +
                                   " must have 2 to 64 characters of letters, digits and _+=,.@-");
  }
  if (duration < kMinSessionDuration || duration > kMaxSessionDuration) {
    return Error::invalid_argument("session duration must be 900 to 43200 seconds, got " +
                                   std::to_string(duration.count()));
  }
  WG_ASSIGN_OR_RETURN(auto id, new_access_key_id(KeyKind::kTemporary));
  WG_ASSIGN_OR_RETURN(auto secret, new_secret_access_key());
  WG_ASSIGN_OR_RETURN(auto token, new_session_token());
  Session created;
  WG_RETURN_IF_ERROR(mutate([&](Snapshot& s) -> Status {
    auto role = s.roles.find(role_name);
    if (role == s.roles.end()) return Error::not_found("no role named " + double_quoted(role_name));
    if (duration > role->second.max_session_duration) {
      return Error::invalid_argument(
          "session duration " + std::to_string(duration.count()) +
          " s exceeds the maximum of role " + double_quoted(role_name) + " (" +
          std::to_string(role->second.max_session_duration.count()) + " s)");
    }
    std::erase_if(s.sessions, [&](const auto& entry) {
      return entry.second.expiration + kExpiredSessionRetention < now;
    });
    if (s.sessions.contains(id)) return Error::internal("session key id collision");
    created = Session{
        id, secret, token, std::string(role_name), std::string(session_name), now + duration};
    s.sessions.emplace(id, created);
    return {};
  }));
  return created;
}

}  // namespace writegate::iam
