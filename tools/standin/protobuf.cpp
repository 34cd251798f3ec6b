#include "standin/protobuf.h"

#include <cstdint>
#include <functional>

namespace lintel::standin {
namespace {

std::string base64(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63],
            kAlphabet[v & 63]};
  }
  if (i < in.size()) {
    const bool two = i + 1 < in.size();
    const uint32_t v = (uint8_t(in[i]) << 16) | (two ? uint8_t(in[i + 1]) << 8 : 0);
    out +=
        {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], two ? kAlphabet[(v >> 6) & 63] : '=', '='};
  }
  return out;
}

// One protobuf message: calls `field(number, wire_type, varint, bytes)` per field. Wire
// types 0 (varint) and 2 (length-delimited) carry values; 1 and 5 (fixed) are skipped;
// groups are an error (nothing in the Kubernetes API uses them).
bool for_each_field(std::string_view message,
                    const std::function<void(uint32_t, uint64_t, std::string_view)>& field) {
  size_t pos = 0;
  const auto varint = [&](uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= message.size()) {
        return false;
      }
      const auto byte = static_cast<uint8_t>(message[pos++]);
      out |= uint64_t(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        return true;
      }
    }
    return false;
  };
  while (pos < message.size()) {
    uint64_t key = 0;
    if (!varint(key)) {
      return false;
    }
    const auto number = static_cast<uint32_t>(key >> 3);
    const auto wire = static_cast<uint32_t>(key & 7);
    uint64_t value = 0;
    if (wire == 0) {
      if (!varint(value)) {
        return false;
      }
      field(number, value, {});
    } else if (wire == 2) {
      if (!varint(value) || value > message.size() - pos) {
        return false;
      }
      field(number, 0, message.substr(pos, value));
      pos += value;
    } else if (wire == 1 || wire == 5) {
      const size_t size = wire == 1 ? 8 : 4;
      if (message.size() - pos < size) {
        return false;
      }
      pos += size;
    } else {
      return false;
    }
  }
  return true;
}

// map<string, string|bytes> entries: key = 1, value = 2.
bool map_entry(std::string_view entry, std::string& key, std::string& value) {
  return for_each_field(entry, [&](uint32_t n, uint64_t, std::string_view bytes) {
    if (n == 1) {
      key = bytes;
    } else if (n == 2) {
      value = bytes;
    }
  });
}

bool decode_meta(std::string_view bytes, json& meta) {
  bool ok = true;
  ok &= for_each_field(bytes, [&](uint32_t n, uint64_t, std::string_view v) {
    std::string key;
    std::string value;
    if (v.empty() && n <= 3) {
      return;  // gogo-protobuf writes unset optional strings as empty ones
    }
    switch (n) {
      case 1:
        meta["name"] = std::string(v);
        break;
      case 2:
        meta["generateName"] = std::string(v);
        break;
      case 3:
        meta["namespace"] = std::string(v);
        break;
      case 11:
      case 12:
        ok &= map_entry(v, key, value);
        meta[n == 11 ? "labels" : "annotations"][key] = value;
        break;
      case 14:
        meta["finalizers"].push_back(std::string(v));
        break;
      default:
        break;  // server-set fields (uid, resourceVersion, timestamps, ...) are ignored
    }
  });
  return ok;
}

}  // namespace

std::optional<json> decode_protobuf_object(std::string_view body, std::string& error) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (!body.starts_with(kMagic)) {
    error = "a protobuf body must start with the k8s\\0 magic";
    return std::nullopt;
  }
  std::string api_version;
  std::string kind;
  std::string_view raw;
  bool ok =
      for_each_field(body.substr(kMagic.size()), [&](uint32_t n, uint64_t, std::string_view v) {
        if (n == 1) {
          for_each_field(v, [&](uint32_t m, uint64_t, std::string_view s) {
            if (m == 1 || m == 2) {
              (m == 1 ? api_version : kind) = s;
            }
          });
        } else if (n == 2) {
          raw = v;
        }
      });
  if (!ok) {
    error = "malformed protobuf envelope";
    return std::nullopt;
  }
  if (api_version != "v1" || (kind != "Namespace" && kind != "ConfigMap" && kind != "Secret")) {
    error = "the stand-in decodes protobuf only for v1 Namespace, ConfigMap and Secret (got " +
            api_version + " " + kind + "); send JSON (kubectl create -f)";
    return std::nullopt;
  }
  json object = {{"apiVersion", api_version}, {"kind", kind}, {"metadata", json::object()}};
  ok = for_each_field(
           raw,
           [&](uint32_t n, uint64_t number, std::string_view v) {
             std::string key;
             std::string value;
             if (n == 1) {
               ok &= decode_meta(v, object["metadata"]);
             } else if (kind == "Namespace" && n == 2) {
               ok &= for_each_field(v, [&](uint32_t m, uint64_t, std::string_view s) {
                 if (m == 1) {
                   object["spec"]["finalizers"].push_back(std::string(s));
                 }
               });
             } else if (kind == "ConfigMap" && (n == 2 || n == 3)) {
               ok &= map_entry(v, key, value);
               object[n == 2 ? "data" : "binaryData"][key] = n == 2 ? value : base64(value);
             } else if (kind == "Secret" && (n == 2 || n == 4)) {
               ok &= map_entry(v, key, value);
               object[n == 2 ? "data" : "stringData"][key] = n == 2 ? base64(value) : value;
             } else if (kind == "Secret" && n == 3) {
               object["type"] = std::string(v);
             } else if ((kind == "ConfigMap" && n == 4) || (kind == "Secret" && n == 5)) {
               object["immutable"] = number != 0;
             }
           }) &&
       ok;
  if (!ok) {
    error = "malformed protobuf " + kind;
    return std::nullopt;
  }
  return object;
}

}  // namespace lintel::standin
