# Fleet upgrades (issue 5): the role-ordered steps of each stop.
target_sources(coord_core PRIVATE
	${CMAKE_CURRENT_LIST_DIR}/upgrade_steps.c)
