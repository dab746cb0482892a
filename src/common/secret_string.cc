#include "common/secret_string.h"

#include <openssl/crypto.h>

namespace writegate::detail {

void wipe_bytes(void* data, std::size_t size) {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

}  // namespace writegate::detail
