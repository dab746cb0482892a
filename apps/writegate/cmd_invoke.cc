// `writegate invoke [--function NAME] --payload JSON|@file`: Lambda Invoke (RequestResponse)
// signed with SigV4 against the local AWS endpoint (or AWS), as `aws lambda invoke` does.
// The function's answer goes to stdout. Exit codes: 0 the function answered a statusCode below
// 400 (or none); 1 the function failed (X-Amz-Function-Error: unhandled, timeout, crash); 2 an
// API or usage error (AccessDenied, a bad argument); 3 the function answered a statusCode of 400
// or more (400 a bad event, 403 a write it may not do, 500/503 the database), said on stderr.
//
// Compiled only when writegate_awslocal is linked (it defines WRITEGATE_HAVE_AWSLOCAL).
#ifdef WRITEGATE_HAVE_AWSLOCAL

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "awslocal/client.h"
#include "command.h"
#include "sigv4/credentials.h"
#include "spec/spec.h"
#include "stack/stack.h"

namespace {

using writegate::Error;
using writegate::cli::fail;
using writegate::cli::finish;

struct InvokeArgs {
  std::string function;
  std::string payload;
  std::string endpoint_url;
  std::string region;
  std::string ca_bundle;
  std::string profile;
  std::string out_file;
  int timeout_seconds = 120;
};

// Lambda's synchronous limit is 6 MB; reading stops a little beyond so the endpoint answers.
constexpr std::size_t kMaxPayloadFile = 8 * 1024 * 1024;

std::string url_encode_path_segment(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

int run_invoke(const InvokeArgs& args, const writegate::cli::Globals& globals) {
  auto spec = writegate::cli::effective_spec(globals);
  if (!spec) fail(spec.error());
  std::string payload = args.payload;
  if (!payload.empty() && payload.front() == '@') {
    const std::string path = payload.substr(1);
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(Error::io("cannot read the payload file " + path));
    std::string text(kMaxPayloadFile + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxPayloadFile) {
      fail(Error::out_of_range("the payload file " + path +
                               " is larger than Lambda's 6 MB limit for synchronous invocations"));
    }
    payload = std::move(text);
  }
  const auto env = writegate::sigv4::Environment::from_process();
  // A running local stack (see `writegate status`) fills in what is not given: its endpoint,
  // its CA bundle, and its administrator's key when no AWS credentials are configured.
  auto stack = writegate::stack::StackState::load(globals.state_dir);
  const bool stack_up = stack && stack->status == "up";
  auto credentials = writegate::sigv4::resolve_credentials(env, args.profile);
  if (!credentials && stack_up && args.profile.empty()) {
    auto key = writegate::stack::admin_key(globals.state_dir);
    if (!key) fail(key.error());
    writegate::sigv4::ResolvedCredentials admin;
    admin.credentials.access_key_id = key->access_key_id;
    admin.credentials.secret_access_key = std::move(key->secret_access_key);
    credentials = std::move(admin);
  }
  if (!credentials) fail(credentials.error());
  std::string region = args.region;
  if (region.empty()) {
    auto configured = writegate::sigv4::resolve_region(env, args.profile);
    if (configured && !configured->empty()) region = *configured;
  }
  if (region.empty()) region = spec->region;
  std::string endpoint = args.endpoint_url;
  for (const char* name : {"AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL"}) {
    if (endpoint.empty() && std::getenv(name)) endpoint = std::getenv(name);
  }
  std::string ca = args.ca_bundle;
  if (endpoint.empty() && stack_up) {
    endpoint = stack->endpoint_url;
    if (ca.empty()) ca = stack->ca_file;
  }
  if (endpoint.empty()) endpoint = "http://127.0.0.1:4566";
  if (ca.empty() && std::getenv("AWS_CA_BUNDLE")) ca = std::getenv("AWS_CA_BUNDLE");

  writegate::awslocal::ClientOptions options;
  options.endpoint_url = endpoint;
  options.region = region;
  options.ca_file = ca;
  options.timeout = std::chrono::seconds(args.timeout_seconds);
  writegate::sigv4::HttpRequest request;
  request.method = "POST";
  const std::string function = args.function.empty() ? spec->function.name : args.function;
  request.path = "/2015-03-31/functions/" + url_encode_path_segment(function) + "/invocations";
  request.headers.push_back({"Content-Type", "application/json"});
  request.headers.push_back({"X-Amz-Invocation-Type", "RequestResponse"});
  request.body = std::move(payload);
  auto response = writegate::awslocal::send_signed(options, std::move(request), "lambda",
                                                   credentials->credentials);
  if (!response) fail(response.error());
  if (response->status != 200) {
    fail(writegate::awslocal::error_from_response(*response, "Invoke"));
  }
  if (!args.out_file.empty()) {
    std::ofstream out(args.out_file, std::ios::binary | std::ios::trunc);
    out << response->body;
    if (!out) fail(Error::io("cannot write " + args.out_file));
  } else {
    std::cout << response->body << "\n";
  }
  const std::string_view function_error = response->header("X-Amz-Function-Error");
  if (!function_error.empty()) {
    std::cerr << "writegate: the function failed (X-Amz-Function-Error: " << function_error
              << ")\n";
    return 1;
  }
  // The writer's own answers carry an HTTP-like statusCode: an error one is not a success.
  const auto answer = nlohmann::json::parse(response->body, nullptr, false);
  if (answer.is_object() && answer.contains("statusCode") &&
      answer["statusCode"].is_number_integer() && answer["statusCode"].get<int>() >= 400) {
    std::cerr << "writegate: the function answered statusCode " << answer["statusCode"].get<int>()
              << "\n";
    return 3;
  }
  return 0;
}

void install(CLI::App& root, writegate::cli::Globals& globals) {
  static InvokeArgs args;
  auto* cmd = root.add_subcommand(
      "invoke", "Invoke the function (Lambda Invoke, RequestResponse) and print its answer");
  cmd->add_option("--function", args.function, "Function name or ARN (default: the spec's)");
  cmd->add_option("--payload", args.payload, "The event: JSON text, or @FILE")->required();
  cmd->add_option("--endpoint-url", args.endpoint_url,
                  "Endpoint (default $AWS_ENDPOINT_URL_LAMBDA, $AWS_ENDPOINT_URL, the running "
                  "local stack's, else http://127.0.0.1:4566)");
  cmd->add_option("--region", args.region, "Region (default: the configured one, else the spec's)");
  cmd->add_option("--ca-bundle", args.ca_bundle, "PEM bundle to trust for https ($AWS_CA_BUNDLE)");
  cmd->add_option("--profile", args.profile, "Profile of the shared AWS files");
  cmd->add_option("--out", args.out_file, "Write the answer to this file instead of stdout");
  cmd->add_option("--timeout", args.timeout_seconds, "Seconds to wait for the answer")
      ->default_str("120");
  cmd->callback([&globals] { finish(run_invoke(args, globals)); });
}

const bool kRegistered = writegate::cli::register_command(install);

}  // namespace

#endif  // WRITEGATE_HAVE_AWSLOCAL
