#include "awslocal/secret_store.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "iam/random.h"
#include "iam/store.h"
#include "pki/pki.h"

namespace writegate::awslocal {

namespace {

using nlohmann::json;
using Ms = std::chrono::milliseconds;

constexpr std::string_view kSuffixAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
constexpr std::string_view kNotFound = "Secrets Manager can't find the specified secret.";

int64_t to_ms(SecretClock::time_point t) {
  return std::chrono::duration_cast<Ms>(t.time_since_epoch()).count();
}
SecretClock::time_point from_ms(int64_t ms) {
  return SecretClock::time_point(Ms(ms));
}

// An flock held for the life of the object.
class FileLock {
 public:
  static Result<FileLock> acquire(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Error::io("cannot open " + path + ": " + std::strerror(errno));
    if (::flock(fd, LOCK_EX) != 0) {
      ::close(fd);
      return Error::io("cannot lock " + path + ": " + std::strerror(errno));
    }
    return FileLock(fd);
  }
  FileLock(FileLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  FileLock& operator=(FileLock&&) = delete;
  ~FileLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

const std::string* string_field(const json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

bool int_field(const json& object, const char* name, int64_t* out) {
  auto it = object.find(name);
  if (it == object.end() || !it->is_number_integer()) return false;
  *out = it->get<int64_t>();
  return true;
}

}  // namespace

struct StoredVersion {
  SecretVersionInfo info;
  std::string envelope_b64;
};

struct StoredSecret {
  SecretMetadata meta;
  std::vector<StoredVersion> versions;  // newest first
};

struct SecretStore::Data {
  std::vector<StoredSecret> secrets;

  StoredSecret* find(std::string_view secret_id, std::string_view partial_prefix) {
    for (auto& s : secrets) {
      if (s.meta.name == secret_id || s.meta.arn == secret_id) return &s;
      // The ARN without its "-XXXXXX" suffix.
      if (secret_id.size() > partial_prefix.size() &&
          secret_id.substr(0, partial_prefix.size()) == partial_prefix &&
          secret_id.substr(partial_prefix.size()) == s.meta.name) {
        return &s;
      }
    }
    return nullptr;
  }
};

Status validate_secret_name(std::string_view name) {
  if (name.empty() || name.size() > 512) {
    return Error::invalid_argument("a secret name must have 1 to 512 characters");
  }
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '+' ||
          c == '=' || c == '.' || c == '@' || c == '-')) {
      return Error::invalid_argument(
          "a secret name may hold only letters, digits and /_+=.@- characters");
    }
  }
  return {};
}

std::string SecretStore::file_path(const std::string& state_dir) {
  return state_dir + "/secretsmanager/secrets.json";
}

Result<std::unique_ptr<SecretStore>> SecretStore::open(const std::string& state_dir) {
  WG_ASSIGN_OR_RETURN(auto iam_store, iam::IamStore::open(state_dir));
  iam::StoreSettings settings = iam_store->settings();
  if (settings.kms_key_id.empty()) {
    WG_ASSIGN_OR_RETURN(std::string fresh, iam::new_kms_key_id());
    WG_RETURN_IF_ERROR(iam_store->update_settings([&](iam::StoreSettings& s) -> Status {
      if (s.kms_key_id.empty()) s.kms_key_id = fresh;
      return {};
    }));
    settings = iam_store->settings();
  }
  return open(state_dir, settings.region, settings.account_id, settings.kms_key_id);
}

Result<std::unique_ptr<SecretStore>> SecretStore::open(const std::string& state_dir,
                                                       std::string region, std::string account,
                                                       std::string kms_key_id) {
  WG_ASSIGN_OR_RETURN(LocalKmsKey key,
                      LocalKmsKey::open_or_create(state_dir, kms_key_id, region, account));
  std::error_code ec;
  const std::string dir = state_dir + "/secretsmanager";
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error::io("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  return std::unique_ptr<SecretStore>(
      new SecretStore(state_dir, std::move(region), std::move(account), std::move(key)));
}

std::string SecretStore::partial_arn(std::string_view name) const {
  return "arn:aws:secretsmanager:" + region_ + ":" + account_ + ":secret:" + std::string(name);
}

Result<SecretStore::Data> SecretStore::load() const {
  const std::string path = file_path(state_dir_);
  std::ifstream in(path, std::ios::binary);
  Data data;
  if (!in) {
    if (!std::filesystem::exists(path)) return data;
    return Error::io("cannot read " + path);
  }
  std::stringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  auto corrupt = [&](const std::string& what) {
    return Error::failed_precondition(path + " is damaged: " + what);
  };
  if (doc.is_discarded() || !doc.is_object()) return corrupt("not a JSON object");
  auto secrets = doc.find("secrets");
  if (secrets == doc.end() || !secrets->is_array()) return corrupt("no secrets array");
  for (const json& s : *secrets) {
    if (!s.is_object()) return corrupt("a secret is not an object");
    StoredSecret stored;
    const std::string* name = string_field(s, "name");
    const std::string* arn = string_field(s, "arn");
    const std::string* key = string_field(s, "kms_key_arn");
    const std::string* description = string_field(s, "description");
    int64_t created = 0, changed = 0;
    if (!name || !arn || !key || !int_field(s, "created_ms", &created) ||
        !int_field(s, "last_changed_ms", &changed)) {
      return corrupt("a secret lacks name, arn, kms_key_arn or dates");
    }
    stored.meta.name = *name;
    stored.meta.arn = *arn;
    stored.meta.kms_key_arn = *key;
    if (description) stored.meta.description = *description;
    stored.meta.created = from_ms(created);
    stored.meta.last_changed = from_ms(changed);
    auto versions = s.find("versions");
    if (versions == s.end() || !versions->is_array()) return corrupt("a secret has no versions");
    for (const json& v : *versions) {
      StoredVersion version;
      const std::string* id = v.is_object() ? string_field(v, "id") : nullptr;
      const std::string* envelope = v.is_object() ? string_field(v, "ciphertext") : nullptr;
      int64_t version_created = 0;
      if (!id || !envelope || !int_field(v, "created_ms", &version_created)) {
        return corrupt("a version lacks id, ciphertext or created_ms");
      }
      version.info.version_id = *id;
      version.info.created = from_ms(version_created);
      version.envelope_b64 = *envelope;
      auto stages = v.find("stages");
      if (stages != v.end() && stages->is_array()) {
        for (const json& stage : *stages) {
          if (stage.is_string()) version.info.stages.push_back(stage.get<std::string>());
        }
      }
      stored.meta.versions.push_back(version.info);
      stored.versions.push_back(std::move(version));
    }
    data.secrets.push_back(std::move(stored));
  }
  return data;
}

Status SecretStore::save(const Data& data) const {
  json secrets = json::array();
  for (const StoredSecret& s : data.secrets) {
    json versions = json::array();
    for (const StoredVersion& v : s.versions) {
      versions.push_back({{"id", v.info.version_id},
                          {"stages", v.info.stages},
                          {"created_ms", to_ms(v.info.created)},
                          {"ciphertext", v.envelope_b64}});
    }
    secrets.push_back({{"name", s.meta.name},
                       {"arn", s.meta.arn},
                       {"description", s.meta.description},
                       {"kms_key_arn", s.meta.kms_key_arn},
                       {"created_ms", to_ms(s.meta.created)},
                       {"last_changed_ms", to_ms(s.meta.last_changed)},
                       {"versions", versions}});
  }
  json doc{{"format", "writegate-secrets-v1"}, {"secrets", secrets}};
  return pki::write_file(file_path(state_dir_),
                         doc.dump(2, ' ', false, json::error_handler_t::replace) + "\n", 0600);
}

Result<std::string> SecretStore::seal(const std::string& arn, const std::string& version_id,
                                      const SecretPayload& value) const {
  // One type byte ('S' string, 'B' binary) ahead of the value, inside the ciphertext.
  std::string plain;
  plain.reserve(value.data.size() + 1);
  plain += value.binary ? 'B' : 'S';
  plain += value.data.reveal();
  auto sealed = key_.encrypt(plain, {{"SecretARN", arn}, {"SecretVersionId", version_id}});
  OPENSSL_cleanse(plain.data(), plain.size());
  if (!sealed) return sealed.error();
  return base64_encode(*sealed);
}

Result<SecretMetadata> SecretStore::describe(std::string_view secret_id) const {
  WG_ASSIGN_OR_RETURN(Data data, load());
  StoredSecret* s = data.find(secret_id, partial_arn(""));
  if (s == nullptr) return Error::not_found(std::string(kNotFound));
  return s->meta;
}

std::vector<SecretMetadata> SecretStore::list() const {
  std::vector<SecretMetadata> out;
  auto data = load();
  if (!data) return out;
  for (const auto& s : data->secrets)
    out.push_back(s.meta);
  return out;
}

Result<SecretValue> SecretStore::get_value(std::string_view secret_id, std::string_view version_id,
                                           std::string_view version_stage) const {
  WG_ASSIGN_OR_RETURN(Data data, load());
  StoredSecret* s = data.find(secret_id, partial_arn(""));
  if (s == nullptr) return Error::not_found(std::string(kNotFound));
  const std::string_view stage =
      version_stage.empty() && version_id.empty() ? kCurrentStage : version_stage;
  const StoredVersion* chosen = nullptr;
  for (const StoredVersion& v : s->versions) {
    bool id_ok = version_id.empty() || v.info.version_id == version_id;
    bool stage_ok = stage.empty() || std::find(v.info.stages.begin(), v.info.stages.end(), stage) !=
                                         v.info.stages.end();
    if (id_ok && stage_ok) {
      chosen = &v;
      break;
    }
  }
  if (chosen == nullptr) {
    return Error::not_found("Secrets Manager can't find the specified secret value for " +
                            std::string(version_id.empty() ? "staging label: " : "VersionId: ") +
                            std::string(version_id.empty() ? stage : version_id));
  }
  if (s->meta.kms_key_arn != key_.arn()) {
    return Error::failed_precondition("the secret " + s->meta.name + " is encrypted under " +
                                      s->meta.kms_key_arn + ", not the local key " + key_.arn())
        .with_subcode("DecryptionFailure");
  }
  auto envelope = base64_decode(chosen->envelope_b64);
  if (!envelope) {
    return Error::failed_precondition("the stored ciphertext of " + s->meta.name + " is not base64")
        .with_subcode("DecryptionFailure");
  }
  auto plain = key_.decrypt(
      *envelope, {{"SecretARN", s->meta.arn}, {"SecretVersionId", chosen->info.version_id}});
  if (!plain) {
    return Error::failed_precondition("the stored value of " + s->meta.name +
                                      " does not decrypt: " + plain.error().message())
        .with_subcode("DecryptionFailure");
  }
  if (plain->empty() || ((*plain)[0] != 'S' && (*plain)[0] != 'B')) {
    OPENSSL_cleanse(plain->data(), plain->size());
    return Error::failed_precondition("the stored value of " + s->meta.name + " has no type byte")
        .with_subcode("DecryptionFailure");
  }
  SecretValue value;
  value.name = s->meta.name;
  value.arn = s->meta.arn;
  value.version_id = chosen->info.version_id;
  value.stages = chosen->info.stages;
  value.created = chosen->info.created;
  const std::string_view bytes = std::string_view(*plain).substr(1);
  if ((*plain)[0] == 'S') {
    value.secret_string.emplace(bytes);
  } else {
    value.secret_binary.emplace(bytes);
  }
  OPENSSL_cleanse(plain->data(), plain->size());
  return value;
}

Result<SecretMetadata> SecretStore::create(std::string_view name, const SecretPayload& value,
                                           std::string_view description,
                                           SecretClock::time_point now) {
  WG_RETURN_IF_ERROR(validate_secret_name(name));
  WG_ASSIGN_OR_RETURN(FileLock lock, FileLock::acquire(state_dir_ + "/secretsmanager/.lock"));
  WG_ASSIGN_OR_RETURN(Data data, load());
  for (const auto& s : data.secrets) {
    if (s.meta.name == name) {
      return Error::already_exists("the secret " + std::string(name) + " already exists");
    }
  }
  WG_ASSIGN_OR_RETURN(std::string suffix, iam::random_string(6, kSuffixAlphabet));
  WG_ASSIGN_OR_RETURN(std::string version_id, iam::new_kms_key_id());  // a v4 UUID
  StoredSecret s;
  s.meta.name = std::string(name);
  s.meta.arn = partial_arn(name) + "-" + suffix;
  s.meta.description = std::string(description);
  s.meta.kms_key_arn = key_.arn();
  s.meta.created = now;
  s.meta.last_changed = now;
  StoredVersion v;
  v.info.version_id = version_id;
  v.info.stages = {std::string(kCurrentStage)};
  v.info.created = now;
  WG_ASSIGN_OR_RETURN(v.envelope_b64, seal(s.meta.arn, version_id, value));
  s.meta.versions.push_back(v.info);
  s.versions.push_back(std::move(v));
  data.secrets.push_back(s);
  WG_RETURN_IF_ERROR(save(data));
  return s.meta;
}

Result<std::string> SecretStore::put_value(std::string_view secret_id, const SecretPayload& value,
                                           SecretClock::time_point now) {
  WG_ASSIGN_OR_RETURN(FileLock lock, FileLock::acquire(state_dir_ + "/secretsmanager/.lock"));
  WG_ASSIGN_OR_RETURN(Data data, load());
  StoredSecret* s = data.find(secret_id, partial_arn(""));
  if (s == nullptr) return Error::not_found(std::string(kNotFound));
  WG_ASSIGN_OR_RETURN(std::string version_id, iam::new_kms_key_id());
  StoredVersion v;
  v.info.version_id = version_id;
  v.info.stages = {std::string(kCurrentStage)};
  v.info.created = now;
  WG_ASSIGN_OR_RETURN(v.envelope_b64, seal(s->meta.arn, version_id, value));
  // AWSCURRENT moves to the new version, AWSPREVIOUS to the old current; versions without a
  // stage are dropped (AWS deprecates them too).
  std::vector<StoredVersion> kept{std::move(v)};
  for (StoredVersion& old : s->versions) {
    auto& stages = old.info.stages;
    bool was_current = std::find(stages.begin(), stages.end(), kCurrentStage) != stages.end();
    stages.erase(std::remove_if(stages.begin(), stages.end(),
                                [](const std::string& st) {
                                  return st == kCurrentStage || st == kPreviousStage;
                                }),
                 stages.end());
    if (was_current) stages.push_back(std::string(kPreviousStage));
    if (!stages.empty()) kept.push_back(std::move(old));
  }
  s->versions = std::move(kept);
  s->meta.versions.clear();
  for (const auto& kv : s->versions)
    s->meta.versions.push_back(kv.info);
  s->meta.last_changed = now;
  WG_RETURN_IF_ERROR(save(data));
  return version_id;
}

Result<SecretMetadata> SecretStore::upsert(std::string_view name, const SecretPayload& value,
                                           SecretClock::time_point now) {
  auto existing = describe(name);
  if (!existing) {
    if (existing.error().code() != ErrorCode::kNotFound) return existing.error();
    auto created = create(name, value, "", now);
    if (created || created.error().code() != ErrorCode::kAlreadyExists) return created;
  }
  WG_RETURN_IF_ERROR(put_value(name, value, now));
  return describe(name);
}

}  // namespace writegate::awslocal
