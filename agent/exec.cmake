# lockstep-agent-exec: written by the executor work
