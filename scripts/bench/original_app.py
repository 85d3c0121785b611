"""The original application, rebuilt from its documented behaviour, for `make bench` to measure
in the same run as waitline (the comparison is only fair on the same machine, at the same moment).

    python3 scripts/bench/original_app.py --redis-port 6379 --queue-name bench --port 8000

What it reproduces, as the original did it: FastAPI on one uvicorn worker; synchronous redis-py
calls from plain `def` handlers (FastAPI runs them on its thread pool); INCR then LPUSH then LLEN
as three separate commands (not atomic); the same keys (`ticket_number_<queue>`, `queue_<queue>`)
and sentences; state changes on GET; `/list_tickets` a count only; uvicorn's access log on, as
waitline's is in the bench. `--port` is the one addition
(the original listens on 8000): the bench needs a free port. Debian packages: python3-fastapi,
python3-uvicorn, python3-redis.
"""
import argparse

import redis
import uvicorn
from fastapi import FastAPI

parser = argparse.ArgumentParser()
parser.add_argument("--redis-host", default="127.0.0.1")
parser.add_argument("--redis-port", type=int, default=6379)
parser.add_argument("--queue-name", default="DEFAULT")
parser.add_argument("--port", type=int, default=8000)
args = parser.parse_args()

store = redis.Redis(host=args.redis_host, port=args.redis_port, decode_responses=True)
counter = f"ticket_number_{args.queue_name}"
queue = f"queue_{args.queue_name}"
app = FastAPI()


@app.get("/get_ticket")
def get_ticket():
    ticket = store.incr(counter)
    store.lpush(queue, ticket)
    return f"Sure thing, your ticket has the number : {ticket}. {store.llen(queue)} people are waiting"


@app.get("/call_ticket")
def call_ticket():
    ticket = store.rpop(queue)
    if ticket is None:
        return "Queue is empty"
    return f"Customer with ticket {ticket}, please proceed ! {store.llen(queue)} people are waiting"


@app.get("/list_tickets")
def list_tickets():
    return f"{store.llen(queue)} people are waiting\n"


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=args.port)  # uvicorn's defaults: one worker, access log on
