# Which file components are in object storage, from the rails node's
# rendered gitlab.yml (agent.yml gitlab.rails_config): an object-stored
# component with no local file is left out of the backup.
add_library(agent_backup_objstore STATIC
	${CMAKE_CURRENT_SOURCE_DIR}/backup_objstore.c)
target_include_directories(agent_backup_objstore PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(agent_backup_objstore PUBLIC ls_base PkgConfig::YAML)
target_link_libraries(lockstep-agent-exec PRIVATE agent_backup_objstore)
