# Container registry metadata database migrations (gitlab-facts §8): the
# pure parsers of `registry database migrate status|up` output and of the
# registry's config.yml, for lockstep-agent-exec, unit tests and fuzzers.
add_library(agent_registry STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/registry_parse.c
	${CMAKE_CURRENT_SOURCE_DIR}/registry_config.c)
target_include_directories(agent_registry PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_registry PUBLIC ls_base PkgConfig::YAML)
# agent.yml checks registry.pgbouncer entries with its host:port reader.
target_link_libraries(agent_cfg PUBLIC agent_registry)
