// The schema `lgperf report junit` validates its output against, embedded so
// that the tool works from any directory and from an installed binary (a path
// found through #filePath points into the build machine's checkout and is gone
// once the binary is copied elsewhere). The same text is shipped as
// Fixtures/schemas/junit-luminaguard.xsd for people and other tools; a test
// checks that the two are identical.
public enum JUnitSchemas {
    public static let luminaguardName = "junit-luminaguard.xsd"

    public static let luminaguard = #"""
<?xml version="1.0" encoding="UTF-8"?>
<!--
  JUnit XML as `lgperf report junit` writes it (LuminaGuard Perf).

  A strict subset of the common JUnit format (Maven Surefire's junit-10.xsd):
  every document valid here is also valid against junit-10.xsd. Stricter than
  junit-10 in what the generator promises: counts are non-negative integers,
  times are decimal seconds, every testcase has classname and time, and each
  testcase holds at most one outcome (failure, error or skipped).

  Tags: junit-10 has no <properties> inside <testcase>, so a test's tags are
  written twice: in its `group` attribute ("baseline,spawn") and as a
  testsuite-level property named "tags:<classname>/<name>".

  This file and the copy embedded in Sources/PerfReports/JUnitSchema.swift must
  be identical (a test checks it).
-->
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
    <xs:simpleType name="seconds">
        <xs:restriction base="xs:decimal">
            <xs:minInclusive value="0"/>
            <xs:pattern value="[0-9]+(\.[0-9]+)?"/>
        </xs:restriction>
    </xs:simpleType>

    <xs:simpleType name="nonEmpty">
        <xs:restriction base="xs:string">
            <xs:minLength value="1"/>
        </xs:restriction>
    </xs:simpleType>

    <xs:complexType name="outcome" mixed="true">
        <xs:attribute name="message" type="xs:string" use="required"/>
        <xs:attribute name="type" type="xs:string"/>
    </xs:complexType>

    <xs:element name="failure" type="outcome"/>
    <xs:element name="error" type="outcome"/>
    <xs:element name="skipped" type="outcome"/>
    <xs:element name="system-out" type="xs:string"/>
    <xs:element name="system-err" type="xs:string"/>

    <xs:element name="property">
        <xs:complexType>
            <xs:attribute name="name" type="nonEmpty" use="required"/>
            <xs:attribute name="value" type="xs:string" use="required"/>
        </xs:complexType>
    </xs:element>

    <xs:element name="properties">
        <xs:complexType>
            <xs:sequence>
                <xs:element ref="property" minOccurs="1" maxOccurs="unbounded"/>
            </xs:sequence>
        </xs:complexType>
    </xs:element>

    <xs:element name="testcase">
        <xs:complexType>
            <xs:sequence>
                <xs:choice minOccurs="0" maxOccurs="1">
                    <xs:element ref="failure"/>
                    <xs:element ref="error"/>
                    <xs:element ref="skipped"/>
                </xs:choice>
                <xs:element ref="system-out" minOccurs="0"/>
                <xs:element ref="system-err" minOccurs="0"/>
            </xs:sequence>
            <xs:attribute name="name" type="nonEmpty" use="required"/>
            <xs:attribute name="classname" type="nonEmpty" use="required"/>
            <xs:attribute name="time" type="seconds" use="required"/>
            <xs:attribute name="group" type="xs:string"/>
        </xs:complexType>
    </xs:element>

    <xs:element name="testsuite">
        <xs:complexType>
            <xs:sequence>
                <xs:element ref="properties" minOccurs="0"/>
                <xs:element ref="testcase" minOccurs="0" maxOccurs="unbounded"/>
                <xs:element ref="system-out" minOccurs="0"/>
                <xs:element ref="system-err" minOccurs="0"/>
            </xs:sequence>
            <xs:attribute name="name" type="nonEmpty" use="required"/>
            <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="failures" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="errors" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="skipped" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="time" type="seconds" use="required"/>
            <xs:attribute name="timestamp" type="xs:dateTime"/>
            <xs:attribute name="hostname" type="nonEmpty" use="required"/>
            <xs:attribute name="id" type="xs:nonNegativeInteger" use="required"/>
        </xs:complexType>
    </xs:element>

    <xs:element name="testsuites">
        <xs:complexType>
            <xs:sequence>
                <xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/>
            </xs:sequence>
            <xs:attribute name="name" type="nonEmpty" use="required"/>
            <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="failures" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="errors" type="xs:nonNegativeInteger" use="required"/>
            <xs:attribute name="time" type="seconds" use="required"/>
        </xs:complexType>
    </xs:element>
</xs:schema>
"""#
}
