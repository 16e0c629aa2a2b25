# gitlab-secrets.json, kubectl's Secret and the saved state (included from
# tests/fuzz/CMakeLists.txt).
ls_fuzzer(fuzz_kube_secrets agent_kube_secrets)
