# Linux package -> Helm chart cutover (issue 9): the run, its steps and the
# `lockstep cutover` command.
target_sources(coord_core PRIVATE
	${CMAKE_CURRENT_LIST_DIR}/coord_cutover.c
	${CMAKE_CURRENT_LIST_DIR}/coord_cutover_plan.c
	${CMAKE_CURRENT_LIST_DIR}/coord_cutover_steps.c
	${CMAKE_CURRENT_LIST_DIR}/coord_cutover_run.c
	${CMAKE_CURRENT_LIST_DIR}/coord_cutover_undo.c)
target_sources(lockstep PRIVATE ${CMAKE_CURRENT_LIST_DIR}/cli_cutover.c)
