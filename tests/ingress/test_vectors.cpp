// Runs every case of ../shared/vectors/ingress-public.json through the real pipeline:
// decode_json → ClusterState → compile → RouteTable::match, and compares the backend.
//
// What the harness adds (see the file's "conventions"):
// - Services get one ready Pod (10.0.0.1 on the targetPort) unless the case brings
//   EndpointSlices (or ready_endpoints), so an expected 200 really has an endpoint.
// - tls_secrets are generated at test time by the conformance harness; here a Secret with
//   placeholder tls.crt/tls.key stands in, since the compiler only records TLS hosts yet.
// - A null host is the controller's IP literal ("127.0.0.1:8080").
// - The path is stripped of its query/fragment. Requests of the area
//   "request-normalization" go through a small stand-in for proxy/ path normalization
//   (the proxy owns the real one; routing/ matches normalized paths only).
// - https requests are routed by Host like http ones; the certificate store is checked to
//   cover expect_tls_cert_dns_name.

#include <gtest/gtest.h>

#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "ingress/compiler.h"
#include "ingress/decode.h"

namespace lintel::ingress {
namespace {

using nlohmann::json;

const std::string kVectors = std::string(LINTEL_SHARED_DIR) + "/vectors/ingress-public.json";

const json& all_cases() {
  static const json cases = [] {
    std::ifstream in(kVectors);
    if (!in) {
      return json::array();
    }
    return json::parse(in).at("cases");
  }();
  return cases;
}

std::vector<size_t> case_indexes() {
  std::vector<size_t> out;
  for (size_t i = 0; i < all_cases().size(); ++i) {
    out.push_back(i);
  }
  return out;
}

std::string test_name(const testing::TestParamInfo<size_t>& info) {
  std::string name = all_cases()[info.param].at("name").get<std::string>();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) {
      c = '_';
    }
  }
  return name + "_" + std::to_string(info.param);
}

// A stand-in for the proxy's path normalization (proxy/path_normalize.h owns the real
// one): unreserved escapes decoded, other escapes kept upper-case, slashes merged, dot
// segments removed.
std::string normalize_request_path(std::string_view raw) {
  auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  auto value = [](char c) {
    return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (c | 0x20) - 'a' + 10;
  };
  std::string decoded;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '%' && i + 2 < raw.size() && hex(raw[i + 1]) && hex(raw[i + 2])) {
      char c = static_cast<char>(value(raw[i + 1]) * 16 + value(raw[i + 2]));
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
          c == '~') {
        decoded += c;
      } else {
        decoded += '%';
        decoded += static_cast<char>(std::toupper(raw[i + 1]));
        decoded += static_cast<char>(std::toupper(raw[i + 2]));
      }
      i += 2;
    } else {
      decoded += raw[i];
    }
  }
  std::vector<std::string> segments;
  std::stringstream in(decoded);
  std::string segment;
  bool trailing = !decoded.empty() && decoded.back() == '/';
  while (std::getline(in, segment, '/')) {
    if (segment.empty() || segment == ".") {
      continue;
    }
    if (segment == "..") {
      if (!segments.empty()) {
        segments.pop_back();
      }
      continue;
    }
    segments.push_back(segment);
  }
  std::string out;
  for (const std::string& s : segments) {
    out += '/' + s;
  }
  if (out.empty() || trailing) {
    out += '/';
  }
  return out;
}

std::string backend_text(const json& v) {
  return v.is_null() ? "null (404)" : v.get<std::string>();
}

class IngressVectors : public testing::TestWithParam<size_t> {};

TEST(IngressVectorsFile, IsPresent) {
  ASSERT_FALSE(all_cases().empty()) << "no cases read from " << kVectors;
  EXPECT_EQ(all_cases().size(), 40u);
}

TEST_P(IngressVectors, Case) {
  const json& c = all_cases()[GetParam()];
  const std::string case_name = c.at("name");
  SCOPED_TRACE(case_name);

  ClusterState state;
  auto load = [&](const json& object) {
    Origin origin;
    origin.file = "ingress-public.json#" + case_name;
    DecodeResult decoded = decode_json(object.dump(), origin);
    for (const auto& error : decoded.errors) {
      ADD_FAILURE() << "decode error: " << error.to_string();
    }
    ASSERT_EQ(decoded.objects.size(), 1u) << object.dump();
    for (Object& o : decoded.objects) {
      state.put(std::move(o));
    }
  };
  for (const json& i : c.value("ingresses", json::array())) {
    load(i);
  }
  for (const json& s : c.value("services", json::array())) {
    load(s);
  }
  for (const json& s : c.value("endpointslices", json::array())) {
    load(s);
  }

  // One ready Pod per Service unless the case says otherwise. ready_endpoints, when given,
  // maps a Service name to how many ready Pods it has.
  if (!c.contains("endpointslices")) {
    const json ready = c.value("ready_endpoints", json::object());
    for (const json& svc : c.value("services", json::array())) {
      std::string name = svc.at("metadata").at("name");
      std::string ns = svc.at("metadata").value("namespace", "default");
      int pods = ready.is_object() && ready.contains(name) ? ready[name].get<int>() : 1;
      json slice = {{"apiVersion", "discovery.k8s.io/v1"},
                    {"kind", "EndpointSlice"},
                    {"metadata",
                     {{"name", name + "-vectors"},
                      {"namespace", ns},
                      {"labels", {{"kubernetes.io/service-name", name}}}}},
                    {"addressType", "IPv4"},
                    {"ports", json::array()},
                    {"endpoints", json::array()}};
      for (const json& port : svc.at("spec").value("ports", json::array())) {
        json target = port.value("targetPort", json());
        // A named targetPort has no number without a Pod: use the Service port's.
        int number = target.is_number() ? target.get<int>() : port.at("port").get<int>();
        json slice_port = {{"port", number}, {"protocol", "TCP"}};
        if (!port.value("name", std::string()).empty()) {
          slice_port["name"] = port["name"];
        }
        slice["ports"].push_back(slice_port);
      }
      for (int p = 0; p < pods; ++p) {
        slice["endpoints"].push_back({{"addresses", {"10.0.0." + std::to_string(p + 1)}},
                                      {"conditions", {{"ready", true}}}});
      }
      load(slice);
    }
  }

  for (const json& secret : c.value("tls_secrets", json::array())) {
    Secret s;
    s.metadata.name = secret.at("name");
    s.metadata.namespace_ = secret.value("namespace", "default");
    s.type = secret.value("type", "kubernetes.io/tls");
    s.data = {{"tls.crt", "placeholder certificate"}, {"tls.key", "placeholder key"}};
    state.put(s);
  }

  CompileResult result = compile(state, CompileOptions{});
  for (const auto& d : result.diagnostics) {
    std::cout << "  [" << case_name << "] diagnostic: " << d.to_string() << "\n";
    EXPECT_FALSE(d.rejected) << d.to_string();
  }

  for (const json& request : c.at("requests")) {
    std::string host =
        request.at("host").is_null() ? "127.0.0.1:8080" : request.at("host").get<std::string>();
    std::string target = request.at("path");
    std::string path = target.substr(0, target.find_first_of("?#"));
    if (request.value("area", "") == "request-normalization") {
      path = normalize_request_path(path);
    }
    SCOPED_TRACE(request.value("scheme", "http") + "://" + host + target + " → match " + path);

    auto m = result.routes->match(host, path);
    json got = json();  // null = 404
    if (m.backend != nullptr) {
      got = m.backend->service_name + ":" + m.backend->port;
    }
    const json& expected = request.at("expect_backend");
    if (request.value("ambiguous", false) && request.contains("acceptable_backends")) {
      bool acceptable = false;
      for (const json& a : request["acceptable_backends"]) {
        acceptable = acceptable || a == got;
      }
      EXPECT_TRUE(acceptable) << "got " << backend_text(got)
                              << ", acceptable: " << request["acceptable_backends"].dump();
      std::cout << "  [" << case_name << "] ambiguous " << host << target << ": got "
                << backend_text(got)
                << (got == expected ? " (the preferred reading)"
                                    : " (acceptable; preferred " + backend_text(expected) + ")")
                << "\n";
    } else {
      EXPECT_EQ(got, expected) << "got " << backend_text(got) << ", expected "
                               << backend_text(expected);
    }
    if (m.backend != nullptr && got == expected) {
      EXPECT_EQ(m.backend->service_namespace, request.value("expect_backend_namespace", "default"));
      int status = request.value("expect_status", 200);
      if (status == 200) {
        EXPECT_FALSE(m.backend->endpoints->endpoints.empty())
            << "no endpoints: " << m.backend->problem;
      }
      if (c.contains("expect_upstream_endpoints")) {
        std::vector<std::string> endpoints;
        for (const auto& e : m.backend->endpoints->endpoints) {
          endpoints.push_back(e.to_string());
        }
        EXPECT_EQ(json(endpoints), c["expect_upstream_endpoints"]);
      }
      if (request.contains("expect_endpoint_port")) {
        for (const auto& e : m.backend->endpoints->endpoints) {
          EXPECT_EQ(e.port, request["expect_endpoint_port"].get<int>());
        }
      }
    }
    if (request.contains("expect_tls_cert_dns_name")) {
      EXPECT_TRUE(result.certs->hosts().contains(request["expect_tls_cert_dns_name"]))
          << "no TLS host " << request["expect_tls_cert_dns_name"];
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Public, IngressVectors, testing::ValuesIn(case_indexes()), test_name);

}  // namespace
}  // namespace lintel::ingress
