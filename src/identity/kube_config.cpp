#include "identity/kube_config.h"

#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace ksight::identity {

namespace {

// Tokens, certificates and kubeconfigs are small; a bigger file is a mistake.
constexpr size_t kMaxFileBytes = 4u << 20;

std::expected<std::string, std::string> read_small_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::unexpected("cannot read " + path + ": " + std::strerror(errno));
  std::string text;
  std::array<char, 8192> buf;
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
    text.append(buf.data(), static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxFileBytes) return std::unexpected(path + " is larger than 4 MiB");
  }
  if (in.bad()) return std::unexpected("cannot read " + path + ": " + std::strerror(errno));
  return text;
}

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// The entry named `name` of a kubeconfig list (clusters, users, contexts),
// e.g. clusters: [{name: c, cluster: {...}}] -> the {...} under `field`.
std::expected<YAML::Node, std::string> named_entry(const YAML::Node& root, const char* list,
                                                   const char* field, const std::string& name) {
  const YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const auto& e : entries) {
      if (e.IsMap() && e["name"] && e["name"].as<std::string>() == name) {
        if (!e[field] || !e[field].IsMap())
          return std::unexpected(std::string(list) + " entry \"" + name + "\" has no " + field);
        return e[field];
      }
    }
  }
  return std::unexpected(std::string("no entry \"") + name + "\" in " + list);
}

std::string scalar(const YAML::Node& map, const char* key) {
  const YAML::Node v = map[key];
  return v && v.IsScalar() ? v.as<std::string>() : std::string();
}

// kubectl resolves relative paths in a kubeconfig against its directory.
std::string resolve(const std::filesystem::path& dir, const std::string& p) {
  if (p.empty() || std::filesystem::path(p).is_absolute()) return p;
  return (dir / p).string();
}

// "a-data" field (base64 PEM) into `pem`, or "a" (a file path) into `file`.
std::expected<void, std::string> file_or_data(const YAML::Node& map, const char* key,
                                              const std::filesystem::path& dir, std::string& file,
                                              std::string& pem) {
  std::string data_key = std::string(key) + "-data";
  if (auto data = scalar(map, data_key.c_str()); !data.empty()) {
    auto decoded = base64_decode(data);
    if (!decoded) return std::unexpected(data_key + ": " + decoded.error());
    pem = std::move(*decoded);
  } else {
    file = resolve(dir, scalar(map, key));
  }
  return {};
}

std::expected<KubeConfig, std::string> parse_kubeconfig(const YAML::Node& root,
                                                        const std::filesystem::path& dir,
                                                        std::string_view context_override) {
  if (!root.IsMap()) return std::unexpected("not a kubeconfig (no YAML mapping at the top)");
  std::string context_name(context_override);
  if (context_name.empty()) context_name = scalar(root, "current-context");
  if (context_name.empty()) return std::unexpected("current-context is not set");
  auto context = named_entry(root, "contexts", "context", context_name);
  if (!context) return std::unexpected(context.error());
  const std::string cluster_name = scalar(*context, "cluster");
  const std::string user_name = scalar(*context, "user");
  auto cluster = named_entry(root, "clusters", "cluster", cluster_name);
  if (!cluster) return std::unexpected(cluster.error());

  KubeConfig cfg;
  cfg.ns = scalar(*context, "namespace");
  cfg.server = scalar(*cluster, "server");
  if (cfg.server.empty()) return std::unexpected("cluster \"" + cluster_name + "\" has no server");
  cfg.proxy = scalar(*cluster, "proxy-url");
  cfg.insecure_skip_tls_verify = (*cluster)["insecure-skip-tls-verify"] &&
                                 (*cluster)["insecure-skip-tls-verify"].as<bool>(false);
  if ((*cluster)["tls-server-name"])
    return std::unexpected("cluster \"" + cluster_name +
                           "\": tls-server-name is not supported; use a server URL whose name "
                           "the certificate holds");
  if (auto r = file_or_data(*cluster, "certificate-authority", dir, cfg.ca_file, cfg.ca_pem); !r)
    return std::unexpected("cluster \"" + cluster_name + "\": " + r.error());

  // A context without a user is anonymous access.
  if (user_name.empty()) return cfg;
  auto user = named_entry(root, "users", "user", user_name);
  if (!user) return std::unexpected(user.error());
  for (const char* unsupported : {"exec", "auth-provider", "username", "password", "as"}) {
    if ((*user)[unsupported])
      return std::unexpected("user \"" + user_name + "\": " + unsupported +
                             " is not supported; ksight authenticates with token, tokenFile or "
                             "client-certificate/client-key");
  }
  cfg.token = scalar(*user, "token");
  cfg.token_file = resolve(dir, scalar(*user, "tokenFile"));
  if (auto r =
          file_or_data(*user, "client-certificate", dir, cfg.client_cert_file, cfg.client_cert_pem);
      !r)
    return std::unexpected("user \"" + user_name + "\": " + r.error());
  if (auto r = file_or_data(*user, "client-key", dir, cfg.client_key_file, cfg.client_key_pem); !r)
    return std::unexpected("user \"" + user_name + "\": " + r.error());
  bool has_cert = !cfg.client_cert_file.empty() || !cfg.client_cert_pem.empty();
  bool has_key = !cfg.client_key_file.empty() || !cfg.client_key_pem.empty();
  if (has_cert != has_key)
    return std::unexpected("user \"" + user_name +
                           "\": a client certificate needs both client-certificate and client-key");
  return cfg;
}

}  // namespace

std::expected<std::string, std::string> KubeConfig::bearer_token() const {
  if (token_file.empty()) return token;
  auto text = read_small_file(token_file);
  if (!text) return std::unexpected(text.error());
  return trim(std::move(*text));
}

std::expected<KubeConfig, std::string> in_cluster_config(std::string_view sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return std::unexpected(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set "
        "(not running in a pod? use --kubeconfig)");
  return in_cluster_config(host, port, sa_dir);
}

std::expected<KubeConfig, std::string> in_cluster_config(std::string_view host,
                                                         std::string_view port,
                                                         std::string_view sa_dir) {
  KubeConfig cfg;
  cfg.source = "in-cluster";
  // An IPv6 service address needs brackets in a URL.
  bool ipv6 = host.find(':') != std::string_view::npos;
  cfg.server = "https://" + std::string(ipv6 ? "[" : "") + std::string(host) +
               std::string(ipv6 ? "]" : "") + ":" + std::string(port);
  std::string dir(sa_dir);
  cfg.token_file = dir + "/token";
  cfg.ca_file = dir + "/ca.crt";
  // Fail now, with the path, rather than at every connection attempt.
  if (auto token = cfg.bearer_token(); !token)
    return std::unexpected("in-cluster config: " + token.error());
  if (auto ca = read_small_file(cfg.ca_file); !ca)
    return std::unexpected("in-cluster config: " + ca.error());
  if (auto ns = read_small_file(dir + "/namespace")) cfg.ns = trim(std::move(*ns));
  return cfg;
}

std::expected<KubeConfig, std::string> load_kubeconfig(const std::string& path,
                                                       std::string_view context) {
  auto fail = [&](const std::string& why) {
    return std::unexpected("kubeconfig " + path + ": " + why);
  };
  auto text = read_small_file(path);
  if (!text) return fail(text.error());
  try {
    auto cfg =
        parse_kubeconfig(YAML::Load(*text), std::filesystem::path(path).parent_path(), context);
    if (!cfg) return fail(cfg.error());
    cfg->source = path;
    return cfg;
  } catch (const YAML::Exception& e) {
    return fail(e.what());
  }
}

std::string node_name(std::string_view explicit_name) {
  if (!explicit_name.empty()) return std::string(explicit_name);
  char host[HOST_NAME_MAX + 1] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) return {};
  std::string name(host);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

std::expected<std::string, std::string> base64_decode(std::string_view text) {
  std::string out;
  uint32_t bits = 0;
  int nbits = 0;
  size_t padding = 0;
  for (char ch : text) {
    if (std::isspace(static_cast<unsigned char>(ch))) continue;
    if (ch == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return std::unexpected("invalid base64: data after '=' padding");
    int v;
    if (ch >= 'A' && ch <= 'Z')
      v = ch - 'A';
    else if (ch >= 'a' && ch <= 'z')
      v = ch - 'a' + 26;
    else if (ch >= '0' && ch <= '9')
      v = ch - '0' + 52;
    else if (ch == '+')
      v = 62;
    else if (ch == '/')
      v = 63;
    else
      return std::unexpected(std::string("invalid base64: character '") + ch + "'");
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out.push_back(static_cast<char>((bits >> nbits) & 0xff));
    }
  }
  if (padding > 2 || nbits >= 6) return std::unexpected("invalid base64: truncated");
  return out;
}

}  // namespace ksight::identity
