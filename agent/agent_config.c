typedef int placeholder_t; /* being written */
