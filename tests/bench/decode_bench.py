#!/usr/bin/env python3
"""How fast `hijackguard decode` is next to its library.

Generates a Sync response of N calendar Adds (9,000 by default, about 4.2 MB of WBXML), then
times, medians of --rounds runs each, in one run:

  version   `hijackguard version` (process start-up and exit)
  library   WbxmlToXml in process on the same body (`wbxml_bench --body=FILE`)
  decode    `hijackguard decode BODY > FILE` (the whole process, output to a regular file)
  wbxml2xml Debian's `wbxml2xml -l ACTIVESYNC -m 0 -o FILE BODY`, for reference

and prints decode / (version + library), which should stay within 1.5.

  tests/bench/decode_bench.py --hijackguard build/bin/hijackguard \\
      --wbxml-bench build/bin/wbxml_bench
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

# One meeting as a server sends it in a Sync response's Commands: about 465 bytes of WBXML.
ADD = """        <Add>
          <ServerId>2:{n}</ServerId>
          <ApplicationData>
            <calendar:DtStamp>20261023T144500Z</calendar:DtStamp>
            <calendar:StartTime>20261024T150000Z</calendar:StartTime>
            <calendar:EndTime>20261024T160000Z</calendar:EndTime>
            <calendar:Subject>Project review {n}</calendar:Subject>
            <calendar:UID>040000008200E00074C5B7101A82E008000000000{n:08d}00000000000000001000</calendar:UID>
            <calendar:OrganizerName>Alice Organizer</calendar:OrganizerName>
            <calendar:OrganizerEmail>alice@example.com</calendar:OrganizerEmail>
            <calendar:Attendees>
              <calendar:Attendee>
                <calendar:Email>bob{n}@example.com</calendar:Email>
                <calendar:Name>Bob Attendee</calendar:Name>
                <calendar:AttendeeStatus>5</calendar:AttendeeStatus>
                <calendar:AttendeeType>1</calendar:AttendeeType>
              </calendar:Attendee>
            </calendar:Attendees>
            <calendar:Location>Room 4.12</calendar:Location>
            <airsyncbase:Body>
              <airsyncbase:Type>1</airsyncbase:Type>
              <airsyncbase:EstimatedDataSize>150</airsyncbase:EstimatedDataSize>
              <airsyncbase:Data>Agenda: status of the rollout, open risks and who owns them, decisions needed this week, the budget, next steps.</airsyncbase:Data>
            </airsyncbase:Body>
            <calendar:Sensitivity>0</calendar:Sensitivity>
            <calendar:BusyStatus>2</calendar:BusyStatus>
            <calendar:AllDayEvent>0</calendar:AllDayEvent>
            <calendar:Reminder>15</calendar:Reminder>
            <calendar:MeetingStatus>3</calendar:MeetingStatus>
            <calendar:ResponseRequested>1</calendar:ResponseRequested>
            <calendar:ResponseType>5</calendar:ResponseType>
          </ApplicationData>
        </Add>
"""

HEAD = """<?xml version="1.0" encoding="utf-8"?>
<Sync xmlns="AirSync:" xmlns:calendar="Calendar:" xmlns:airsyncbase="AirSyncBase:">
  <Collections>
    <Collection>
      <SyncKey>1937474264</SyncKey>
      <CollectionId>2</CollectionId>
      <Status>1</Status>
      <Commands>
"""

TAIL = """      </Commands>
    </Collection>
  </Collections>
</Sync>
"""


def make_body(hijackguard, adds, work):
    xml_path = os.path.join(work, "sync_response.xml")
    body_path = os.path.join(work, "sync_response.wbxml")
    with open(xml_path, "w", encoding="utf-8") as f:
        f.write(HEAD)
        for n in range(adds):
            f.write(ADD.format(n=n))
        f.write(TAIL)
    with open(body_path, "wb") as out:
        subprocess.run([hijackguard, "encode", xml_path], stdout=out, check=True)
    return body_path


def timed(argv, stdout, rounds):
    """Median wall time of running argv, in ms."""
    times = []
    for _ in range(rounds):
        with open(stdout, "wb") as out:
            start = time.perf_counter()
            done = subprocess.run(argv, stdout=out, stderr=subprocess.DEVNULL, check=False)
            times.append((time.perf_counter() - start) * 1000)
            if done.returncode != 0:  # a run that failed fast is not a fast run
                sys.exit(f"{argv[0]} failed (exit {done.returncode}): {' '.join(argv)}")
    return statistics.median(times)


def library_ms(wbxml_bench, body, rounds, work):
    out = os.path.join(work, "bench.json")
    subprocess.run([wbxml_bench, f"--body={body}", f"--benchmark_repetitions={rounds}",
                    "--benchmark_out_format=json", f"--benchmark_out={out}"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    with open(out, encoding="utf-8") as f:
        runs = json.load(f)["benchmarks"]
    times = [r["real_time"] for r in runs if r.get("run_type") == "iteration"]
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hijackguard", required=True)
    parser.add_argument("--wbxml-bench", required=True)
    parser.add_argument("--adds", type=int, default=9000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--limit", type=float, default=1.5,
                        help="decode / (version + library) above this exits 1; 0: never")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="hijackguard-decode-bench-")
    try:
        body = make_body(args.hijackguard, args.adds, work)
        out = os.path.join(work, "out.xml")
        size = os.path.getsize(body)
        # Once, checked: the decode succeeds and renders every Add.
        check = subprocess.run([args.hijackguard, "decode", body], capture_output=True)
        if check.returncode != 0 or check.stdout.count(b"<Add>") != args.adds:
            print(f"decode failed or lost Adds: exit {check.returncode}, "
                  f"{check.stdout.count(b'<Add>')} Adds\n{check.stderr.decode()}")
            return 2
        version = timed([args.hijackguard, "version"], os.devnull, args.rounds)
        library = library_ms(args.wbxml_bench, body, args.rounds, work)
        decode = timed([args.hijackguard, "decode", body], out, args.rounds)
        rows = [("hijackguard version", version), ("WbxmlToXml in process", library),
                ("hijackguard decode > FILE", decode)]
        wbxml2xml = shutil.which("wbxml2xml")
        if wbxml2xml:
            rows.append(("wbxml2xml -l ACTIVESYNC -m 0 -o FILE",
                         timed([wbxml2xml, "-l", "ACTIVESYNC", "-m", "0", "-o", out, body],
                               os.devnull, args.rounds)))
        print(f"body: {args.adds} calendar Adds, {size} bytes of WBXML; "
              f"medians of {args.rounds} runs")
        for name, ms in rows:
            print(f"  {name:<40} {ms:9.1f} ms")
        ratio = decode / (version + library)
        print(f"decode / (version + library) = {ratio:.2f} (limit {args.limit})")
        if args.limit and ratio > args.limit:
            return 1
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
