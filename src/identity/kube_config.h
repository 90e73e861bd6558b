#pragma once
// Where the Kubernetes API server is and how ksight authenticates to it:
// in-cluster (the service account Kubernetes mounts into the pod) or a
// kubeconfig file. Only what a DaemonSet or a developer needs: bearer tokens
// and client certificates. Credential plugins (exec, auth-provider) are
// refused with an error naming the field, rather than half-supported.
#include <expected>
#include <string>
#include <string_view>

namespace ksight::identity {

inline constexpr std::string_view kServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

struct KubeConfig {
  std::string server;  // "https://10.96.0.1:443"; http:// only for tests
  // Trust: a PEM file, or PEM text (kubeconfig certificate-authority-data);
  // neither: the system's CAs.
  std::string ca_file;
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
  // Bearer token: read from token_file at every connection when it is set
  // (bound service-account tokens rotate, about hourly), else `token`.
  std::string token;
  std::string token_file;
  // Client certificate and key: files, or PEM text (the -data fields).
  std::string client_cert_file, client_key_file;
  std::string client_cert_pem, client_key_pem;
  std::string proxy;   // kubeconfig proxy-url
  std::string ns;      // the pod's namespace in-cluster, the context's otherwise
  std::string source;  // where this came from, for messages: "in-cluster", a file path

  // The bearer token to send now ("" for none), re-reading token_file.
  std::expected<std::string, std::string> bearer_token() const;
};

// In-cluster: the API server from KUBERNETES_SERVICE_HOST/_PORT, the token,
// CA and namespace from `sa_dir` (token, ca.crt, namespace).
std::expected<KubeConfig, std::string> in_cluster_config(
    std::string_view sa_dir = kServiceAccountDir);
// The same, with the host and port given rather than read from the environment.
std::expected<KubeConfig, std::string> in_cluster_config(std::string_view host,
                                                         std::string_view port,
                                                         std::string_view sa_dir);

// A kubeconfig file: its current-context (or `context` when given) ->
// cluster and user. Relative file paths in it are relative to its directory,
// as kubectl reads them.
std::expected<KubeConfig, std::string> load_kubeconfig(const std::string& path,
                                                       std::string_view context = {});

// This node's name: `explicit_name` (NODE_NAME from the downward API, or
// --node-name) when not empty, else the hostname, lowercased as Kubernetes
// names nodes.
std::string node_name(std::string_view explicit_name);

// RFC 4648 base64 (kubeconfig's -data fields); whitespace is ignored.
std::expected<std::string, std::string> base64_decode(std::string_view text);

}  // namespace ksight::identity
