*--
-- PostgreSQL database dump
--

\restrict ca10sMHx8d7tXeQPhElawILTtArA3WMi7vHyg1u3pEOxgXIyX3KwwGrRbdwNOXf

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

DROP TABLE IF EXISTS public.u;
DROP TABLE IF EXISTS public.p1;
DROP TABLE IF EXISTS public.p;
DROP TABLE IF EXISTS public.e;
DROP TABLE IF EXISTS "We""ird"."Ta ble";
DROP FUNCTION IF EXISTS public.f();
DROP SCHEMA IF EXISTS "We""ird";
--
-- Name: We"ird; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA "We""ird";


ALTER SCHEMA "We""ird" OWNER TO postgres;

--
-- Name: f(); Type: FUNCTION; Schema: public; Owner: postgres
--

CREATE FUNCTION public.f() RETURNS void
    LANGUAGE sql
    AS $$
COPY e FROM stdin;
$$;


ALTER FUNCTION public.f() OWNER TO postgres;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: Ta ble; Type: TABLE; Schema: We"ird; Owner: postgres
--

CREATE TABLE "We""ird"."Ta ble" (
    a text,
    "B" integer
);


ALTER TABLE "We""ird"."Ta ble" OWNER TO postgres;

--
-- Name: e; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.e (
);


ALTER TABLE public.e OWNER TO postgres;

--
-- Name: p; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.p (
    id integer
)
PARTITION BY RANGE (id);


ALTER TABLE public.p OWNER TO postgres;

--
-- Name: p1; Type: TABLE; Schema: public; Owner: postgres
--

CREATE TABLE public.p1 (
    id integer
);


ALTER TABLE public.p1 OWNER TO postgres;

--
-- Name: u; Type: TABLE; Schema: public; Owner: postgres
--

CREATE UNLOGGED TABLE public.u (
    x integer
);


ALTER TABLE public.u OWNER TO postgres;

--
-- Name: p1; Type: TABLE ATTACH; Schema: public; Owner: postgres
--

ALTER TABLE ONLY public.p ATTACH PARTITION public.p1 FOR VALUES FROM (0) TO (10);


--
-- Data for Name: Ta ble; Type: TABLE DATA; Schema: We"ird; Owner: postgres
--

COPY "We""ird"."Ta ble" (a, "B") FROM stdin;
x\ny	1
\\.	2
	3
\.


--
-- Data for Name: e; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.e  FROM stdin;

\.


--
-- Data for Name: p1; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.p1 (id) FROM stdin;
1
2
\.


--
-- Data for Name: u; Type: TABLE DATA; Schema: public; Owner: postgres
--

COPY public.u (x) FROM stdin;
5
\.


--
-- PostgreSQL database dump complete
--

\unrestrict ca10sMHx8d7tXeQPhElawILTtArA3WMi7vHyg1u3pEOxgXIyX3KwwGrRbdwNOXf

