# Container registry migrations (RegistryMigrate): the output and config
# parsers, and the Kubernetes argv and JSON choices without a cluster.
ls_unit_test(test_registry_parse agent_registry)
ls_unit_test(test_registry_kube agent_registry agent_cfg PkgConfig::JANSSON)
target_sources(test_registry_kube PRIVATE
	${CMAKE_SOURCE_DIR}/agent/registry_kube.c
	${CMAKE_SOURCE_DIR}/agent/kube_cmd.c
	${CMAKE_SOURCE_DIR}/agent/kube_json.c)
