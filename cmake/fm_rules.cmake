# Build rules that read like a table (Abseil's absl_cc_library habit):
#   fm_cc_library(NAME x SRCS x.cc HDRS x.h DEPS fm_y absl::status)
#   fm_cc_test(NAME x_test SRCS x_test.cc DEPS fm_x)
#   fm_cc_binary(NAME tool SRCS main.cc DEPS fm_x)
# Every target sees the repository root on its include path, so includes read
# "core/losses/focal.h".

function(fm_cc_library)
  cmake_parse_arguments(FM "" "NAME" "SRCS;HDRS;DEPS" ${ARGN})
  if(FM_SRCS)
    add_library(${FM_NAME} STATIC ${FM_SRCS} ${FM_HDRS})
    target_include_directories(${FM_NAME} PUBLIC ${PROJECT_SOURCE_DIR}
                                                 ${PROJECT_BINARY_DIR})
    target_link_libraries(${FM_NAME} PUBLIC ${FM_DEPS})
  else()
    add_library(${FM_NAME} INTERFACE)
    target_include_directories(${FM_NAME} INTERFACE ${PROJECT_SOURCE_DIR}
                                                    ${PROJECT_BINARY_DIR})
    target_link_libraries(${FM_NAME} INTERFACE ${FM_DEPS})
  endif()
endfunction()

function(fm_cc_test)
  cmake_parse_arguments(FM "" "NAME" "SRCS;DEPS" ${ARGN})
  if(NOT FM_BUILD_TESTS)
    return()
  endif()
  add_executable(${FM_NAME} ${FM_SRCS})
  target_include_directories(${FM_NAME} PRIVATE ${PROJECT_SOURCE_DIR}
                                                ${PROJECT_BINARY_DIR})
  target_link_libraries(${FM_NAME} PRIVATE ${FM_DEPS} GTest::gtest
                                           GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${FM_NAME}
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    PROPERTIES ENVIRONMENT "FM_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

function(fm_cc_binary)
  cmake_parse_arguments(FM "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${FM_NAME} ${FM_SRCS})
  target_include_directories(${FM_NAME} PRIVATE ${PROJECT_SOURCE_DIR}
                                                ${PROJECT_BINARY_DIR})
  target_link_libraries(${FM_NAME} PRIVATE ${FM_DEPS})
endfunction()
