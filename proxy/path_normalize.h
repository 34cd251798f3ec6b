#pragma once
// Normalization of the request path, done once per request: the result is what the route
// table matches AND what is forwarded, so a backend can never see a path that resolves
// differently from the one that was routed ("/public/../admin" reaching past an "/admin"
// rule). Pure functions, no I/O.

#include <string>
#include <string_view>

namespace lintel::proxy {

enum class PathError {
  kNone,
  kInvalidCharacter,       // CTL, SP, DEL, non-ASCII, '\', '#' in the path
  kMalformedEscape,        // '%' not followed by two hex digits
  kAboveRoot,              // a ".." segment would climb above "/"
  kEncodedSlashTraversal,  // "." or ".." next to %2F / %5C: a decoding backend would
                           // resolve it differently from us
};

struct NormalizedPath {
  std::string path;  // starts with '/'
  PathError error = PathError::kNone;
};

// `raw` is the path part of an origin-form request-target (no query), starting with '/'.
//  1. every byte is checked against the URI character set;
//  2. percent-escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded, every other
//     escape is kept with upper-case hex digits ("%2f" → "%2F"): %2F and %5C stay encoded
//     because "/" and "%2F" are different paths to many backends;
//  3. adjacent slashes are merged ("//admin" → "/admin"), as nginx does;
//  4. "." and ".." segments are removed (RFC 3986 §5.2.4); climbing above "/" is an error
//     rather than being clamped, as in nginx.
NormalizedPath normalize_path(std::string_view raw);

// True when every byte of a query (without '?') may be forwarded: no CTL, SP, DEL,
// non-ASCII or '#'. Escapes in the query are not checked or changed.
bool valid_query(std::string_view query);

}  // namespace lintel::proxy
