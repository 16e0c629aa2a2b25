/* Fuzzes what the coordinator and agents decode from the network: the
 * envelope frame, then both message bodies and the enrollment messages. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "control.pb-c.h"
#include "lockstep.pb-c.h"
#include "ls_envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t pk[32];
	Ls__Envelope *env = NULL;
	Ls__JoinRequest *jr;
	Ls__ControlReq *cr;

	if (sodium_init() < 0)
		return 0;
	if (ls_envelope_open(data, size, 1 << 20, &env) == 0) {
		Ls__AgentMsg *am;
		Ls__CoordMsg *cm;

		(void)ls_envelope_verify(env, pk);
		am = ls__agent_msg__unpack(NULL, env->body.len, env->body.data);
		if (am)
			ls__agent_msg__free_unpacked(am, NULL);
		cm = ls__coord_msg__unpack(NULL, env->body.len, env->body.data);
		if (cm)
			ls__coord_msg__free_unpacked(cm, NULL);
		ls__envelope__free_unpacked(env, NULL);
	}
	jr = ls__join_request__unpack(NULL, size, data);
	if (jr) {
		Ls__JoinAsk *ask = ls__join_ask__unpack(NULL, jr->payload.len,
		                                        jr->payload.data);
		if (ask)
			ls__join_ask__free_unpacked(ask, NULL);
		ls__join_request__free_unpacked(jr, NULL);
	}
	cr = ls__control_req__unpack(NULL, size, data);
	if (cr)
		ls__control_req__free_unpacked(cr, NULL);
	return 0;
}
