# The module rule, checked the way the build checks it: a source compiled in one module's
# view of the tree sees the modules it may use and nothing else.
#   -DCXX=... -DINCLUDE=<include/> -DVIEWS=<build>/module-views -DWORK=<dir>
file(MAKE_DIRECTORY ${WORK})

function(compiles module header expect)
  set(probe ${WORK}/${module}_probe.cpp)
  file(WRITE ${probe} "#include \"${header}\"\nint main() { return 0; }\n")
  execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only -I${INCLUDE} -I${VIEWS}/${module}
                          ${probe}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(expect AND NOT rc EQUAL 0)
    message(FATAL_ERROR "${module} should see ${header}:\n${err}")
  elseif(NOT expect AND rc EQUAL 0)
    message(FATAL_ERROR "${module} sees ${header}, which the rule forbids")
  endif()
endfunction()

compiles(logging "context/frame.hpp" TRUE)
compiles(logging "base/words.hpp" TRUE)
compiles(logging "metrics/family.hpp" FALSE)
compiles(logging "trace/tracer.hpp" FALSE)
compiles(metrics "logging/record.hpp" FALSE)
compiles(trace "metrics/mp_format.hpp" FALSE)
compiles(context "trace/ids.hpp" FALSE)
compiles(base "context/frame.hpp" FALSE)
compiles(base "config/environment.hpp" FALSE)
compiles(config "context/frame.hpp" FALSE)
compiles(metrics "config/environment.hpp" TRUE)
compiles(sdk "metrics/family.hpp" TRUE)
compiles(logging "otlp/protobuf.hpp" TRUE)
compiles(otlp "trace/otlp.hpp" FALSE)
compiles(context "otlp/http_sender.hpp" FALSE)
message(STATUS "module views follow the rule")
