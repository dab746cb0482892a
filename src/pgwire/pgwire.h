// writegate::pgwire — a pure codec of the PostgreSQL v3 frontend/backend protocol.
//
// No sockets, no threads, no exceptions on the data path. The pieces:
//   pgwire/messages.h       one struct per message, FrontendMessage / BackendMessage variants
//   pgwire/frame_decoder.h  FrameDecoder: bytes in, validated frames out, every length capped
//   pgwire/parse.h          parse_xxx(body) for every message, and dispatch by frame
//   pgwire/encode.h         encode_to(msg, out) / encode(msg) for every message
//   pgwire/errors.h         ErrorResponse helpers and SQLSTATE constants
//   pgwire/scram.h          SCRAM-SHA-256 client and server, MD5 password answer, base64
//
// A proxy's client side, in brief:
//   auto in = pgwire::FrameDecoder::frontend({.limits = {.max_message = 1 << 20}});
//   in.feed(bytes);
//   WG_ASSIGN_OR_RETURN(pgwire::Decoded d, in.next());
//   if (d.ready() && d.frame.kind == pgwire::FrameKind::kSslRequest) {
//     write(pgwire::encryption_response(true));           // then TLS, if in.buffered_bytes()==0
//   }
#pragma once

#include "pgwire/encode.h"         // IWYU pragma: export
#include "pgwire/errors.h"         // IWYU pragma: export
#include "pgwire/frame_decoder.h"  // IWYU pragma: export
#include "pgwire/messages.h"       // IWYU pragma: export
#include "pgwire/parse.h"          // IWYU pragma: export
#include "pgwire/scram.h"          // IWYU pragma: export
