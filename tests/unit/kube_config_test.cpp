// Where the API server is and how to authenticate: in-cluster service
// account, kubeconfig files, the node name (issue 13).
#include "identity/kube_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace ksight::identity {
namespace {

struct Dir {
  std::string path;
  Dir() {
    char tmpl[] = "/tmp/ksight-kube-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~Dir() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& text) const {
    std::string p = path + "/" + name;
    std::ofstream(p) << text;
    return p;
  }
};

constexpr const char* kPem = "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n";
// base64 of kPem.
constexpr const char* kPemBase64 =
    "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkdW1teQotLS0tLUVORCBDRVJUSUZJQ0FURS0tLS0tCg==";

void expect_one_line(const std::string& error, const std::string& must_contain) {
  EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  EXPECT_NE(error.find(must_contain), std::string::npos) << error;
}

TEST(KubeConfig, InClusterReadsTheServiceAccountAndRereadsTheToken) {
  Dir sa;
  sa.write("token", "token-1\n");
  sa.write("ca.crt", kPem);
  sa.write("namespace", "observability");
  auto cfg = in_cluster_config("10.96.0.1", "443", sa.path);
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->server, "https://10.96.0.1:443");
  EXPECT_EQ(cfg->ca_file, sa.path + "/ca.crt");
  EXPECT_EQ(cfg->ns, "observability");
  EXPECT_EQ(cfg->bearer_token().value_or("?"), "token-1");
  // Bound service-account tokens rotate: the next connection sends the new one.
  sa.write("token", "token-2");
  EXPECT_EQ(cfg->bearer_token().value_or("?"), "token-2");
}

TEST(KubeConfig, InClusterIpv6ServiceAddressIsBracketed) {
  Dir sa;
  sa.write("token", "t");
  sa.write("ca.crt", kPem);
  auto cfg = in_cluster_config("fd00:10:96::1", "6443", sa.path);
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->server, "https://[fd00:10:96::1]:6443");
}

TEST(KubeConfig, InClusterWithoutTokenOrEnvironmentIsOneClearError) {
  Dir sa;
  sa.write("ca.crt", kPem);
  auto cfg = in_cluster_config("10.96.0.1", "443", sa.path);
  ASSERT_FALSE(cfg);
  expect_one_line(cfg.error(), sa.path + "/token");

  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  std::string saved = host ? host : "";
  ::unsetenv("KUBERNETES_SERVICE_HOST");
  auto from_env = in_cluster_config(sa.path);
  if (host) ::setenv("KUBERNETES_SERVICE_HOST", saved.c_str(), 1);
  ASSERT_FALSE(from_env);
  expect_one_line(from_env.error(), "KUBERNETES_SERVICE_HOST");
}

TEST(KubeConfig, KubeconfigWithTokenAndCertificateAuthorityData) {
  Dir d;
  auto path = d.write("config", std::string(R"(apiVersion: v1
kind: Config
current-context: dev
contexts:
- name: other
  context: {cluster: nowhere, user: nobody}
- name: dev
  context:
    cluster: kind
    user: admin
    namespace: shop
clusters:
- name: kind
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: )") +
                                    kPemBase64 + R"(
users:
- name: admin
  user:
    token: abc.def
)");
  auto cfg = load_kubeconfig(path);
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->server, "https://127.0.0.1:6443");
  EXPECT_EQ(cfg->ca_pem, kPem);
  EXPECT_TRUE(cfg->ca_file.empty());
  EXPECT_EQ(cfg->ns, "shop");
  EXPECT_EQ(cfg->bearer_token().value_or("?"), "abc.def");
  EXPECT_FALSE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->source, path);
}

TEST(KubeConfig, KubeconfigFilesAreRelativeToItsDirectory) {
  Dir d;
  d.write("token", "from-file\n");
  auto path = d.write("config", R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters:
- name: k
  cluster: {server: "https://k8s.example:443", certificate-authority: ca.crt,
            insecure-skip-tls-verify: true, proxy-url: "http://proxy:3128"}
users:
- name: u
  user: {tokenFile: token, client-certificate: /etc/k/client.crt, client-key-data: )" +
                                    std::string(kPemBase64) + "}\n");
  auto cfg = load_kubeconfig(path);
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->ca_file, d.path + "/ca.crt");
  EXPECT_TRUE(cfg->insecure_skip_tls_verify);
  EXPECT_EQ(cfg->proxy, "http://proxy:3128");
  EXPECT_EQ(cfg->token_file, d.path + "/token");
  EXPECT_EQ(cfg->bearer_token().value_or("?"), "from-file");
  EXPECT_EQ(cfg->client_cert_file, "/etc/k/client.crt");
  EXPECT_EQ(cfg->client_key_pem, kPem);
}

TEST(KubeConfig, KubeconfigContextCanBeChosen) {
  Dir d;
  auto path = d.write("config", R"(current-context: a
contexts:
- {name: a, context: {cluster: ca, user: u}}
- {name: b, context: {cluster: cb, user: u}}
clusters:
- {name: ca, cluster: {server: "https://a:443"}}
- {name: cb, cluster: {server: "https://b:443"}}
users: [{name: u, user: {token: t}}]
)");
  EXPECT_EQ(load_kubeconfig(path)->server, "https://a:443");
  EXPECT_EQ(load_kubeconfig(path, "b")->server, "https://b:443");
  auto missing = load_kubeconfig(path, "c");
  ASSERT_FALSE(missing);
  expect_one_line(missing.error(), "no entry \"c\" in contexts");
}

TEST(KubeConfig, CredentialPluginsAreRefusedNamingTheField) {
  Dir d;
  for (std::string user : {"{exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}}",
                           "{auth-provider: {name: gcp}}", "{username: a, password: b}"}) {
    auto path = d.write("config", R"(current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://k:443"}}]
users: [{name: u, user: )" + user + "}]\n");
    auto cfg = load_kubeconfig(path);
    ASSERT_FALSE(cfg) << user;
    std::string field = user.substr(1, user.find(':') - 1);
    expect_one_line(cfg.error(), "user \"u\": " + field + " is not supported");
    expect_one_line(cfg.error(), "kubeconfig " + path);
  }
}

TEST(KubeConfig, BadKubeconfigFilesAreOneClearError) {
  Dir d;
  auto missing = load_kubeconfig(d.path + "/nope");
  ASSERT_FALSE(missing);
  expect_one_line(missing.error(), "kubeconfig " + d.path + "/nope: cannot read");
  expect_one_line(missing.error(), "No such file");

  auto bad_yaml = load_kubeconfig(d.write("bad", "clusters: [unclosed\n  - x: {\n"));
  ASSERT_FALSE(bad_yaml);
  expect_one_line(bad_yaml.error(), "kubeconfig " + d.path + "/bad: ");

  auto no_context = load_kubeconfig(d.write("empty", "apiVersion: v1\nkind: Config\n"));
  ASSERT_FALSE(no_context);
  expect_one_line(no_context.error(), "current-context is not set");

  auto no_server = load_kubeconfig(d.write("noserver", R"(current-context: c
contexts: [{name: c, context: {cluster: k}}]
clusters: [{name: k, cluster: {}}]
)"));
  ASSERT_FALSE(no_server);
  expect_one_line(no_server.error(), "cluster \"k\" has no server");

  auto bad_data = load_kubeconfig(d.write("baddata", R"(current-context: c
contexts: [{name: c, context: {cluster: k}}]
clusters: [{name: k, cluster: {server: "https://k", certificate-authority-data: "not*base64"}}]
)"));
  ASSERT_FALSE(bad_data);
  expect_one_line(bad_data.error(), "certificate-authority-data: invalid base64");
}

TEST(KubeConfig, Base64) {
  EXPECT_EQ(base64_decode("aGVsbG8=").value_or("?"), "hello");
  EXPECT_EQ(base64_decode("aGVs\nbG8h").value_or("?"), "hello!");
  EXPECT_EQ(base64_decode("").value_or("?"), "");
  EXPECT_FALSE(base64_decode("aGVsbG8=x"));
  EXPECT_FALSE(base64_decode("a"));
}

TEST(KubeConfig, NodeNameIsExplicitElseTheHostname) {
  EXPECT_EQ(node_name("worker-7"), "worker-7");
  char host[256] = {};
  ASSERT_EQ(::gethostname(host, sizeof(host) - 1), 0);
  std::string want(host);
  for (auto& c : want) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(node_name(""), want);
}

}  // namespace
}  // namespace ksight::identity
