# Linux package secrets to the Helm chart's Kubernetes Secrets (gitlab-facts
# §8): pure conversion, no I/O, so that unit tests and a fuzzer link it; the
# executor links it when it runs kubectl.
add_library(agent_kube_secrets STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/kube_secrets.c
	${CMAKE_CURRENT_SOURCE_DIR}/kube_secrets_k8s.c)
target_include_directories(agent_kube_secrets PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_kube_secrets PUBLIC ls_base PkgConfig::JANSSON
	PkgConfig::YAML PkgConfig::SODIUM)
