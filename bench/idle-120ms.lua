-- wrk: wait 120 ms before each request (longer than the agent's 50 ms pause grace), so each
-- call finds its instance frozen and every process on the path idle, as wrk's C client sees it.
function delay()
  return 120
end
