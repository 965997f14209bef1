"""WedSync sandbox: a STAND-IN for Supabase Auth (GoTrue), Supabase Realtime and the WedSync API.

It speaks their real protocols (GoTrue's /health and password grant behind a gateway path that
wants an ``apikey``; Realtime's Phoenix channels, JSON vsn 1.0.0) so that the exporter, the load
tests and the drill can run where the real services cannot. It is not Supabase and makes no
promise beyond the protocol surface those users need. Faults (latency, slow echo, refused join,
dropped socket, 503, hang, a share of failures on some paths) are set per service through
``FaultBoard`` or the HTTP control endpoint ``/_sandbox/faults``.
"""

STAND_IN_NOTICE = ("WedSync sandbox: a stand-in for Supabase Auth, Supabase Realtime and the "
                   "WedSync API, for tests and drills. It is not Supabase.")
