// The template reader takes files users write (and, with `up --template`, templates from
// elsewhere): anything malformed is an error, never a crash or a hang. Whatever it reads must
// survive the writer: written as YAML with short tags and read again, it is the same document.
#include <cstdint>
#include <string_view>

#include "deploy/yaml_reader.h"
#include "deploy/yaml_writer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto document = writegate::deploy::read_cloudformation(text);
  if (!document) return 0;
  // Bytes that are not UTF-8 are replaced when written; such a document cannot round-trip.
  try {
    (void)document->dump();
  } catch (const nlohmann::json::type_error&) {
    return 0;
  }
  auto again =
      writegate::deploy::read_cloudformation(writegate::deploy::to_cloudformation_yaml(*document));
  if (!again || *again != *document) __builtin_trap();
  return 0;
}
