#include "awslocal/kms.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "pki/pki.h"

namespace writegate::awslocal {

namespace {

constexpr std::string_view kMagic = "WGK1";
constexpr size_t kNonceBytes = 12;
constexpr size_t kTagBytes = 16;

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

void append_field(std::string& out, std::string_view field) {
  uint32_t n = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    out += static_cast<char>((n >> shift) & 0xff);
  out += field;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

}  // namespace

bool is_uuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string base64_encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes(data),
                          static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0)
    return Error::invalid_argument("base64 text length is not a multiple of 4");
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/' && c != '=') {
      return Error::invalid_argument("base64 text holds a character outside the alphabet");
    }
  }
  std::string out(3 * (text.size() / 4), '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes(text),
                          static_cast<int>(text.size()));
  if (n < 0) return Error::invalid_argument("base64 text is malformed");
  size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() > 1 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<size_t>(n) - padding);
  return out;
}

std::string LocalKmsKey::key_path(const std::string& state_dir, std::string_view key_id) {
  return state_dir + "/kms/" + std::string(key_id) + ".key";
}

std::string LocalKmsKey::key_arn(std::string_view region, std::string_view account,
                                 std::string_view key_id) {
  return "arn:aws:kms:" + std::string(region) + ":" + std::string(account) + ":key/" +
         std::string(key_id);
}

LocalKmsKey::~LocalKmsKey() {
  if (!material_.empty()) OPENSSL_cleanse(material_.data(), material_.size());
}

Result<LocalKmsKey> LocalKmsKey::from_material(std::string_view key_id, std::string_view key_arn,
                                               std::string material) {
  if (material.size() != kKmsKeyBytes) {
    OPENSSL_cleanse(material.data(), material.size());
    return Error::invalid_argument("KMS key " + std::string(key_id) + " is " +
                                   std::to_string(material.size()) + " bytes, not 32");
  }
  return LocalKmsKey(std::string(key_id), std::string(key_arn), std::move(material));
}

Result<LocalKmsKey> LocalKmsKey::open(const std::string& state_dir, std::string_view key_id,
                                      std::string_view region, std::string_view account) {
  if (!is_uuid(key_id)) {
    return Error::invalid_argument("KMS key id '" + std::string(key_id.substr(0, 64)) +
                                   "' is not a UUID");
  }
  const std::string path = key_path(state_dir, key_id);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      return Error::not_found("the local KMS key " + std::string(key_id) + " does not exist (" +
                              path + "); run `writegate iam seed` and `writegate secrets put`");
    }
    return Error::io("cannot open " + path + ": " + std::strerror(errno));
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return Error::failed_precondition(path + " must have mode 0600 (it holds a KMS key)");
  }
  std::string material(kKmsKeyBytes + 1, '\0');
  ssize_t n = ::read(fd, material.data(), material.size());
  ::close(fd);
  if (n < 0) return Error::io("cannot read " + path + ": " + std::strerror(errno));
  material.resize(static_cast<size_t>(n));
  return from_material(key_id, key_arn(region, account, key_id), std::move(material));
}

Result<LocalKmsKey> LocalKmsKey::open_or_create(const std::string& state_dir,
                                                std::string_view key_id, std::string_view region,
                                                std::string_view account) {
  auto existing = open(state_dir, key_id, region, account);
  if (existing || existing.error().code() != ErrorCode::kNotFound) return existing;
  std::error_code ec;
  const std::string dir = state_dir + "/kms";
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error::io("cannot create " + dir + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);
  std::string material(kKmsKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(material.data()),
                 static_cast<int>(material.size())) != 1) {
    return Error::internal("RAND_bytes failed making a KMS key");
  }
  // O_EXCL: when two processes race, one key wins and the other reads it.
  const std::string path = key_path(state_dir, key_id);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    OPENSSL_cleanse(material.data(), material.size());
    if (errno == EEXIST) return open(state_dir, key_id, region, account);
    return Error::io("cannot create " + path + ": " + std::strerror(errno));
  }
  bool ok =
      ::write(fd, material.data(), material.size()) == static_cast<ssize_t>(material.size()) &&
      ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    OPENSSL_cleanse(material.data(), material.size());
    ::unlink(path.c_str());
    return Error::io("cannot write " + path);
  }
  return from_material(key_id, key_arn(region, account, key_id), std::move(material));
}

std::string LocalKmsKey::aad(const EncryptionContext& context) const {
  std::string out;
  append_field(out, "writegate-kms-v1");
  append_field(out, arn_);
  for (const auto& [k, v] : context) {
    append_field(out, k);
    append_field(out, v);
  }
  return out;
}

Result<std::string> LocalKmsKey::encrypt(std::string_view plaintext,
                                         const EncryptionContext& context) const {
  if (key_id_.size() > 255) return Error::internal("KMS key id too long");
  unsigned char nonce[kNonceBytes];
  if (RAND_bytes(nonce, sizeof nonce) != 1) return Error::internal("RAND_bytes failed");
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  const std::string additional = aad(context);
  std::string out(kMagic);
  out += static_cast<char>(key_id_.size());
  out += key_id_;
  out.append(reinterpret_cast<const char*>(nonce), sizeof nonce);
  const size_t header = out.size();
  out.resize(header + plaintext.size() + kTagBytes);
  auto* cipher_out = reinterpret_cast<unsigned char*>(out.data() + header);
  int len = 0;
  int total = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, bytes(material_), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(additional),
                        static_cast<int>(additional.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), cipher_out, &len, bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1) {
    return Error::internal("AES-256-GCM encryption failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), cipher_out + total, &len) != 1) {
    return Error::internal("AES-256-GCM encryption failed");
  }
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, cipher_out + total) != 1) {
    return Error::internal("AES-256-GCM tag failed");
  }
  out.resize(header + static_cast<size_t>(total) + kTagBytes);
  return out;
}

Result<std::string> LocalKmsKey::decrypt(std::string_view envelope,
                                         const EncryptionContext& context) const {
  if (envelope.size() < kMagic.size() + 1 || envelope.substr(0, kMagic.size()) != kMagic) {
    return Error::invalid_argument("the ciphertext is not a writegate KMS envelope");
  }
  const size_t id_len = static_cast<unsigned char>(envelope[kMagic.size()]);
  const size_t header = kMagic.size() + 1 + id_len + kNonceBytes;
  if (envelope.size() < header + kTagBytes) {
    return Error::invalid_argument("the ciphertext is truncated");
  }
  std::string_view key_id = envelope.substr(kMagic.size() + 1, id_len);
  if (key_id != key_id_) {
    return Error::failed_precondition("the ciphertext was encrypted under another KMS key, not " +
                                      key_id_)
        .with_subcode("IncorrectKeyException");
  }
  const auto* nonce = bytes(envelope.substr(kMagic.size() + 1 + id_len, kNonceBytes));
  std::string_view ciphertext = envelope.substr(header, envelope.size() - header - kTagBytes);
  std::string tag(envelope.substr(envelope.size() - kTagBytes));
  const std::string additional = aad(context);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  std::string plain(ciphertext.size(), '\0');
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceBytes, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, bytes(material_), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(additional),
                        static_cast<int>(additional.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len,
                        bytes(ciphertext), static_cast<int>(ciphertext.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes, tag.data()) != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return Error::internal("AES-256-GCM decryption could not start");
  }
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len,
                          &final_len) != 1) {
    OPENSSL_cleanse(plain.data(), plain.size());
    return Error::failed_precondition(
               "the ciphertext or its encryption context was altered (AES-GCM authentication "
               "failed)")
        .with_subcode("InvalidCiphertextException");
  }
  plain.resize(static_cast<size_t>(len + final_len));
  return plain;
}

}  // namespace writegate::awslocal
