// Test support: a Lambda runtime in bash for the local Lambda's tests. It takes each event from
// the Runtime API (AWS_LAMBDA_RUNTIME_API), runs `handle` with the request id in $id, and posts
// what `handle` left in $body as the response.
#pragma once

#include <string>
#include <string_view>

namespace writegate::lambda {

inline std::string bash_runtime(std::string_view handle) {
  return std::string(R"(#!/bin/bash
api=$AWS_LAMBDA_RUNTIME_API
exec 3<>"/dev/tcp/${api%:*}/${api#*:}"
while true; do
  printf 'GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n' >&3
  id=""
  length=0
  while IFS= read -r line <&3; do
    line=${line%$'\r'}
    [ -z "$line" ] && break
    case "${line,,}" in
      lambda-runtime-aws-request-id:*) id=${line#*: } ;;
      content-length:*) length=${line#*: } ;;
    esac
  done
  [ "$length" -gt 0 ] && head -c "$length" <&3 >/dev/null
)") + std::string(handle) +
         R"(
  printf 'POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s' "$id" "${#body}" "$body" >&3
  while IFS= read -r line <&3; do
    line=${line%$'\r'}
    case "${line,,}" in content-length:*) length=${line#*: } ;; esac
    [ -z "$line" ] && break
  done
  [ "${length:-0}" -gt 0 ] && head -c "$length" <&3 >/dev/null
done
)";
}

}  // namespace writegate::lambda
